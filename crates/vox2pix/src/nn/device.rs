//! Run-time device selection (`--device cpu|cuda[:N]|mps`) and libtorch process settings.
use super::cpu_budget::CpuBudget;
use anyhow::{bail, Result};
pub use tch::Device;
pub use vox2pix_formats::config::Precision;

extern "C" {
    fn vox2pix_set_tf32(on: i32);
    fn vox2pix_tf32_cudnn() -> i32;
}

/// Parses `cpu`, `cuda`, `cuda:N` or `mps` and checks that the device is usable in this build/machine.
pub fn parse_device(s: &str) -> Result<Device> {
    let s = s.trim().to_ascii_lowercase();
    let dev = match s.as_str() {
        "cpu" => Device::Cpu,
        "mps" => Device::Mps,
        "cuda" => Device::Cuda(0),
        _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => Device::Cuda(n),
            _ => bail!("unknown device '{s}': expected cpu, cuda, cuda:N or mps"),
        },
    };
    match dev {
        Device::Cuda(n) => {
            let count = tch::Cuda::device_count() as usize;
            if count == 0 {
                bail!("device '{s}' requested but libtorch sees no CUDA GPU (no driver, or a CPU-only libtorch); use --device cpu");
            }
            if n >= count {
                bail!(
                    "device '{s}' requested but only {count} CUDA GPU(s) are visible (cuda:0..cuda:{})",
                    count - 1
                );
            }
        }
        Device::Mps if !tch::utils::has_mps() => {
            bail!("device 'mps' requested but this libtorch has no Apple MPS backend; use --device cpu")
        }
        _ => {}
    }
    Ok(dev)
}

/// Sets the number of CPU threads libtorch uses (0 = leave libtorch's default).
pub fn set_cpu_threads(n: usize) {
    if n > 0 {
        tch::set_num_threads(n as i32);
    }
}

/// How many CPU threads libtorch gets (`--threads`): `auto`, the real CPU budget ([`CpuBudget`]); a number; or
/// `0`, libtorch's own default of one thread per visible core (which over-subscribes quotas and busy machines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ThreadSetting {
    /// The CPU budget (affinity mask, cgroup quota, `OMP_NUM_THREADS`, `SLURM_CPUS_PER_TASK`), less the CPUs
    /// other processes keep busy when the command starts.
    #[default]
    Auto,
    /// Exactly this many threads.
    Fixed(usize),
    /// libtorch's default.
    LibtorchDefault,
}

impl std::str::FromStr for ThreadSetting {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "auto" => Ok(ThreadSetting::Auto),
            "0" => Ok(ThreadSetting::LibtorchDefault),
            t => t.parse::<usize>().map(ThreadSetting::Fixed).map_err(|_| {
                format!("'{t}' is not a thread count: use auto, a number ≥ 1, or 0 for libtorch's default")
            }),
        }
    }
}

static CHOSEN_THREADS: std::sync::Mutex<Option<CpuBudget>> = std::sync::Mutex::new(None);

/// Applies `setting` to libtorch and remembers it for the run folders' `run.json` ([`chosen_threads`]) and
/// [`announce_threads`].
pub fn apply_threads(setting: ThreadSetting) -> CpuBudget {
    let choice = match setting {
        ThreadSetting::Auto => CpuBudget::detect_free(),
        ThreadSetting::Fixed(n) => CpuBudget {
            threads: n.max(1),
            reason: "--threads".into(),
        },
        ThreadSetting::LibtorchDefault => CpuBudget {
            threads: cpu_threads(),
            reason: "libtorch's default (--threads 0)".into(),
        },
    };
    if setting != ThreadSetting::LibtorchDefault {
        tch::set_num_threads(choice.threads as i32);
    }
    *CHOSEN_THREADS.lock().unwrap_or_else(|e| e.into_inner()) = Some(choice.clone());
    choice
}

/// The thread choice [`apply_threads`] made in this process, if any.
pub fn chosen_threads() -> Option<CpuBudget> {
    CHOSEN_THREADS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

static ANNOUNCED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints the thread choice and why to stderr, once per process; the trainers call it when their first epoch
/// starts, not at argument parsing, so that a command refused for bad input says only what is wrong.
pub fn announce_threads() {
    if let Some(c) = chosen_threads() {
        if !ANNOUNCED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            eprintln!("threads: {} ({})", c.threads, c.reason);
        }
    }
}

/// The number of CPU threads libtorch uses now.
pub fn cpu_threads() -> usize {
    tch::get_num_threads().max(0) as usize
}

/// Enables or disables TF32 for cuDNN convolutions and cuBLAS matmuls (no effect on CPU).
pub fn set_tf32(on: bool) {
    unsafe { vox2pix_set_tf32(i32::from(on)) }
}

/// Whether TF32 is currently allowed for cuDNN.
pub fn tf32_enabled() -> bool {
    unsafe { vox2pix_tf32_cudnn() != 0 }
}

extern "C" {
    fn vox2pix_autocast_enter(device: i32, dtype: i32, was_on: *mut i32, was_dtype: *mut i32);
    fn vox2pix_autocast_exit(device: i32, was_on: i32, was_dtype: i32);
}

/// Waits for the device's queued work (a no-op on the CPU), so that wall-clock timings cover it.
pub fn synchronize(device: tch::Device) {
    if let tch::Device::Cuda(n) = device {
        tch::Cuda::synchronize(n as i64);
    }
}

/// Autocast region: while alive, libtorch runs eligible ops on `device` in bf16 (or not at all for
/// `Precision::F32`). Restores the previous autocast state when dropped.
pub struct Autocast {
    device: i32,
    previous: Option<(i32, i32)>,
}

impl Autocast {
    /// Enters a bf16 autocast region on `device` for `Precision::Bf16`; does nothing for `Precision::F32`.
    pub fn new(precision: Precision, device: tch::Device) -> Autocast {
        let device = match device {
            tch::Device::Cuda(_) => 1,
            tch::Device::Mps => 2,
            _ => 0,
        };
        let previous = (precision == Precision::Bf16).then(|| {
            let (mut on, mut dtype) = (0, 0);
            unsafe { vox2pix_autocast_enter(device, 0, &mut on, &mut dtype) };
            (on, dtype)
        });
        Autocast { device, previous }
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        if let Some((on, dtype)) = self.previous {
            unsafe { vox2pix_autocast_exit(self.device, on, dtype) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn autocast_region_runs_matmul_in_bf16_and_restores_f32() {
        let a = Tensor::ones([4, 4], (Kind::Float, tch::Device::Cpu));
        {
            let _off = Autocast::new(Precision::F32, tch::Device::Cpu);
            assert_eq!(a.matmul(&a).kind(), Kind::Float);
        }
        {
            let _outer = Autocast::new(Precision::Bf16, tch::Device::Cpu);
            assert_eq!(a.matmul(&a).kind(), Kind::BFloat16);
            {
                let _inner = Autocast::new(Precision::Bf16, tch::Device::Cpu);
                assert_eq!(a.matmul(&a).kind(), Kind::BFloat16);
            }
            // Leaving a nested region keeps the outer one in force.
            assert_eq!(a.matmul(&a).kind(), Kind::BFloat16);
        }
        assert_eq!(a.matmul(&a).kind(), Kind::Float);
    }
}
