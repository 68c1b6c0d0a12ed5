//! How many CPU threads this process may really use, and whether it is competing for them.
//!
//! libtorch sizes its OpenMP team from the cores it can see, not from the CPU time it will get: in a container
//! with a CPU quota, in a Slurm allocation or beside another busy process, its threads then spin against each
//! other and a step runs several times slower than with fewer threads (docs/threads.md). [`CpuBudget`] reads the
//! real budget — the affinity mask, the cgroup v2 `cpu.max` or v1 `cpu.cfs_quota_us` quota of this process's
//! cgroup and its parents, and `OMP_NUM_THREADS` / `SLURM_CPUS_PER_TASK` — and [`ContentionWatch`] notices,
//! once per process, when the machine is busier than the budget.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The thread count vox2pix chose and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuBudget {
    /// Threads libtorch gets.
    pub threads: usize,
    /// The limit that decided `threads`, in words (printed once per run and stored in the run's metadata).
    pub reason: String,
}

/// Where the budget is read from: the file system root (`/` on a real machine, a fake tree in tests), the
/// environment and the number of online CPUs.
pub struct BudgetSources<'a> {
    /// Root under which `proc/self/status`, `proc/self/cgroup` and `sys/fs/cgroup` are read.
    pub root: &'a Path,
    /// Environment lookup.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// CPUs online (the fallback when nothing narrower is known).
    pub online: usize,
}

/// Parses a Linux CPU list such as `0-3,8,10-11` into its CPU count.
pub fn cpu_list_len(list: &str) -> Option<usize> {
    let mut n = 0;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a {
                    return None;
                }
                n += b - a + 1;
            }
            None => {
                part.trim().parse::<usize>().ok()?;
                n += 1;
            }
        }
    }
    (n > 0).then_some(n)
}

/// CPUs in this process's affinity mask (`Cpus_allowed_list` of `proc/self/status`).
fn affinity(root: &Path) -> Option<usize> {
    let status = std::fs::read_to_string(root.join("proc/self/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Cpus_allowed_list:"))?;
    cpu_list_len(line.split_once(':')?.1)
}

/// The cgroup folder and its parents up to the hierarchy's mount, deepest first; a path the mount does not show
/// (a container sees its own cgroup as the mount root) falls back to the mount root.
fn cgroup_chain(mount: &Path, rel: &str) -> Vec<PathBuf> {
    let rel = rel.trim().trim_start_matches('/');
    let mut chain = Vec::new();
    let mut p = PathBuf::from(rel);
    loop {
        let dir = mount.join(&p);
        if dir.is_dir() {
            chain.push(dir);
        }
        if !p.pop() {
            break;
        }
    }
    if chain.is_empty() && mount.is_dir() {
        chain.push(mount.to_path_buf());
    }
    chain
}

/// CPUs' worth of time a quota/period pair grants, rounded down (at least 1): 1.5 CPUs gives 1 thread, since a
/// second thread would be throttled half of every period.
fn quota_cpus(quota: f64, period: f64) -> Option<usize> {
    (quota > 0.0 && period > 0.0).then(|| ((quota / period).floor() as usize).max(1))
}

/// The tightest cgroup CPU quota over this process's cgroup and its parents, v2 (`cpu.max`) or v1
/// (`cpu.cfs_quota_us` / `cpu.cfs_period_us`), with the file it came from.
fn cgroup_quota(root: &Path) -> Option<(usize, PathBuf)> {
    let cgroups = std::fs::read_to_string(root.join("proc/self/cgroup")).ok()?;
    let fs = root.join("sys/fs/cgroup");
    let mut best: Option<(usize, PathBuf)> = None;
    let mut consider = |cpus: usize, file: PathBuf| {
        if best.as_ref().is_none_or(|(b, _)| cpus < *b) {
            best = Some((cpus, file));
        }
    };
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(rel)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if controllers.is_empty() {
            // cgroup v2: "0::/path"; the quota is "max 100000" (none) or "200000 100000".
            for dir in cgroup_chain(&fs, rel) {
                let file = dir.join("cpu.max");
                let Ok(text) = std::fs::read_to_string(&file) else {
                    continue;
                };
                let mut it = text.split_whitespace();
                if let (Some(q), Some(p)) = (it.next(), it.next()) {
                    if let (Ok(q), Ok(p)) = (q.parse::<f64>(), p.parse::<f64>()) {
                        if let Some(c) = quota_cpus(q, p) {
                            consider(c, file);
                        }
                    }
                }
            }
        } else if controllers.split(',').any(|c| c == "cpu") {
            // cgroup v1: the cpu controller is mounted as cpu, cpu,cpuacct or cpuacct,cpu.
            for name in [controllers, "cpu,cpuacct", "cpuacct,cpu", "cpu"] {
                let mount = fs.join(name);
                if !mount.is_dir() {
                    continue;
                }
                for dir in cgroup_chain(&mount, rel) {
                    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok()?.trim().parse::<f64>().ok();
                    if let (Some(q), Some(p)) = (read("cpu.cfs_quota_us"), read("cpu.cfs_period_us")) {
                        if let Some(c) = quota_cpus(q, p) {
                            consider(c, dir.join("cpu.cfs_quota_us"));
                        }
                    }
                }
                break;
            }
        }
    }
    best
}

impl CpuBudget {
    /// The budget of this process on this machine, less the CPUs other processes keep busy right now (sampled
    /// over 0.3 s; [`CpuBudget::leaving_room_for`]).
    pub fn detect_free() -> CpuBudget {
        let budget = CpuBudget::detect();
        if std::env::var_os("OMP_NUM_THREADS").is_some() {
            return budget; // the user's own choice stands
        }
        match busy_cpus(Path::new("/"), std::time::Duration::from_millis(300)) {
            Some(busy) => budget.leaving_room_for(busy),
            None => budget,
        }
    }

    /// The budget of this process on this machine.
    pub fn detect() -> CpuBudget {
        let online = std::thread::available_parallelism().map_or(1, |n| n.get());
        // available_parallelism already honours affinity and quotas; the online count comes from /proc.
        let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
            .ok()
            .and_then(|s| cpu_list_len(&s))
            .unwrap_or(online);
        CpuBudget::from_sources(&BudgetSources {
            root: Path::new("/"),
            env: &|k| std::env::var(k).ok(),
            online,
        })
    }

    /// The budget from explicit sources: `OMP_NUM_THREADS` if set (the user's own choice), else the smallest of
    /// the online CPUs, the affinity mask, the cgroup quota and `SLURM_CPUS_PER_TASK`.
    pub fn from_sources(s: &BudgetSources) -> CpuBudget {
        let env_count = |k: &str| {
            (s.env)(k)
                .and_then(|v| v.split(',').next()?.trim().parse::<usize>().ok())
                .filter(|&n| n > 0)
        };
        if let Some(n) = env_count("OMP_NUM_THREADS") {
            return CpuBudget {
                threads: n,
                reason: format!("OMP_NUM_THREADS={n}"),
            };
        }
        let mut threads = s.online.max(1);
        let mut reason = format!("{threads} CPUs online");
        let mut narrow = |n: usize, why: String| {
            if n < threads {
                threads = n;
                reason = why;
            }
        };
        if let Some(n) = affinity(s.root) {
            narrow(n, format!("affinity mask allows {n} CPUs"));
        }
        if let Some((n, file)) = cgroup_quota(s.root) {
            let shown = file
                .strip_prefix(s.root)
                .map_or(file.clone(), |p| Path::new("/").join(p));
            narrow(n, format!("cgroup CPU quota {} grants {n} CPUs", shown.display()));
        }
        if let Some(n) = env_count("SLURM_CPUS_PER_TASK") {
            narrow(n, format!("SLURM_CPUS_PER_TASK={n}"));
        }
        CpuBudget { threads, reason }
    }
}

impl CpuBudget {
    /// Leaves room for the work other processes are doing now (`busy`, in CPUs, from [`busy_cpus`]): their
    /// share rounded to whole CPUs comes off the budget, keeping at least one thread. OpenMP threads that
    /// outnumber the free cores spin against the other work and slow every step several-fold (docs/threads.md).
    pub fn leaving_room_for(self, busy: f64) -> CpuBudget {
        let others = busy.max(0.0).round() as usize;
        if others == 0 || self.threads <= 1 {
            return self;
        }
        let threads = self.threads.saturating_sub(others).max(1);
        CpuBudget {
            threads,
            reason: format!("{}, of which other processes keep {busy:.1} busy", self.reason),
        }
    }
}

/// CPUs' worth of work the whole machine is doing over `window` (`proc/stat`: non-idle time over all time,
/// times the CPU count). Sampled while this process sleeps, it is other processes' load.
pub fn busy_cpus(root: &Path, window: std::time::Duration) -> Option<f64> {
    let read = || -> Option<(f64, f64, usize)> {
        let stat = std::fs::read_to_string(root.join("proc/stat")).ok()?;
        let mut lines = stat.lines();
        let total_line = lines.next()?;
        let v: Vec<f64> = total_line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let n_cpus = lines.filter(|l| l.starts_with("cpu")).count().max(1);
        // user nice system idle iowait irq softirq steal [guest guest_nice, already inside user/nice]
        let total: f64 = v.iter().take(8).sum();
        let idle = v.get(3)? + v.get(4).copied().unwrap_or(0.0);
        Some((total - idle, total, n_cpus))
    };
    let (b0, t0, _) = read()?;
    std::thread::sleep(window);
    let (b1, t1, n) = read()?;
    (t1 > t0).then(|| (b1 - b0) / (t1 - t0) * n as f64)
}

/// Seconds this process's threads have spent runnable but waiting for a CPU (the second field of each
/// `proc/self/task/*/schedstat`, in ns): time the scheduler gave to other work. None where the kernel keeps no
/// schedstat.
pub fn runqueue_wait_seconds(root: &Path) -> Option<f64> {
    let mut total = 0u64;
    let mut any = false;
    for task in std::fs::read_dir(root.join("proc/self/task")).ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(w) = text.split_whitespace().nth(1).and_then(|w| w.parse::<u64>().ok()) {
            total += w;
            any = true;
        }
    }
    any.then_some(total as f64 * 1e-9)
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// Prints `message` to stderr the first time any watch in this process finds contention.
fn warn_once(message: &str) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!("{message}");
    }
}

/// Watches one stretch of work (an epoch, a benchmark) for contention: how long its threads sat runnable
/// while the CPUs ran something else, as a share of wall time × threads. That share is about 0 on a machine the
/// process has to itself, whatever libtorch's wait policy, and 1/3 with two threads and one other busy process
/// on two cores.
pub struct ContentionWatch {
    threads: usize,
    wall: Instant,
    waited: Option<f64>,
}

/// A stretch whose threads waited for a CPU for more than this share of their time counts as contended.
pub const CONTENDED_WAIT_SHARE: f64 = 0.15;

impl ContentionWatch {
    /// Starts a watch over `threads` threads. (The load average is not consulted: it trails the last minute,
    /// so it still counts a job that just ended.)
    pub fn start(threads: usize) -> ContentionWatch {
        ContentionWatch {
            threads: threads.max(1),
            wall: Instant::now(),
            waited: runqueue_wait_seconds(Path::new("/")),
        }
    }

    /// A watch over libtorch's current CPU threads when `device` is the CPU; an inert one otherwise (a GPU run's
    /// host threads mostly wait on the device by design).
    pub fn start_for(device: tch::Device) -> ContentionWatch {
        if device == tch::Device::Cpu {
            ContentionWatch::start(crate::nn::device::cpu_threads())
        } else {
            ContentionWatch {
                threads: 1,
                wall: Instant::now(),
                waited: None,
            }
        }
    }

    /// Checks the stretch since `start` (or the last check) and restarts the watch; warns once per process.
    /// Returns the stretch's wait share when measurable (stretches under 2 s are not judged).
    pub fn check(&mut self) -> Option<f64> {
        let wall = self.wall.elapsed().as_secs_f64();
        let now = runqueue_wait_seconds(Path::new("/"));
        let share = match (self.waited, now) {
            (Some(a), Some(b)) if wall > 2.0 => Some(((b - a) / (wall * self.threads as f64)).max(0.0)),
            _ => None,
        };
        if let Some(s) = share.filter(|&s| s > CONTENDED_WAIT_SHARE) {
            warn_once(&busy_message(
                &format!(
                    "{:.0} % of the last {wall:.0} s this process's threads waited for a CPU",
                    100.0 * s
                ),
                self.threads,
            ));
        }
        self.wall = Instant::now();
        self.waited = now;
        share
    }
}

fn busy_message(what: &str, threads: usize) -> String {
    let fewer = (threads / 2).max(1);
    format!(
        "warning: the CPUs are busy ({what}); libtorch's {threads} thread(s) compete with other work and can run \
         several times slower. Run one heavy job at a time, or pass --threads {fewer} (see docs/threads.md)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A fake machine: files under a temporary root.
    struct Fake {
        root: PathBuf,
    }

    impl Fake {
        fn new(name: &str, files: &[(&str, &str)]) -> Fake {
            let root = std::env::temp_dir().join(format!("vox2pix-cpu-budget-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            for (path, text) in files {
                let p = root.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, text).unwrap();
            }
            Fake { root }
        }

        fn budget(&self, env: &[(&str, &str)], online: usize) -> CpuBudget {
            let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            CpuBudget::from_sources(&BudgetSources {
                root: &self.root,
                env: &|k| env.get(k).cloned(),
                online,
            })
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    const STATUS_0_7: &str = "Name:\tvox2pix\nCpus_allowed:\tff\nCpus_allowed_list:\t0-7\n";

    #[test]
    fn cpu_lists_are_counted_and_malformed_ones_refused() {
        assert_eq!(cpu_list_len("0-3,8,10-11\n"), Some(7));
        assert_eq!(cpu_list_len("5"), Some(1));
        assert_eq!(cpu_list_len("3-1"), None);
        assert_eq!(cpu_list_len("a-b"), None);
        assert_eq!(cpu_list_len(""), None);
    }

    #[test]
    fn cgroup_v2_quota_of_the_process_cgroup_or_a_parent_is_the_budget() {
        let f = Fake::new(
            "v2",
            &[
                ("proc/self/status", STATUS_0_7),
                ("proc/self/cgroup", "0::/user.slice/job-7\n"),
                ("sys/fs/cgroup/user.slice/cpu.max", "300000 100000\n"),
                ("sys/fs/cgroup/user.slice/job-7/cpu.max", "max 100000\n"),
            ],
        );
        let b = f.budget(&[], 16);
        assert_eq!(b.threads, 3, "{b:?}");
        assert!(b.reason.contains("/sys/fs/cgroup/user.slice/cpu.max"), "{}", b.reason);
        // A fractional quota rounds down: 1.5 CPUs is one thread, never zero.
        let f = Fake::new(
            "v2-frac",
            &[
                ("proc/self/cgroup", "0::/\n"),
                ("sys/fs/cgroup/cpu.max", "150000 100000\n"),
            ],
        );
        assert_eq!(f.budget(&[], 16).threads, 1);
        let f = Fake::new(
            "v2-tiny",
            &[
                ("proc/self/cgroup", "0::/\n"),
                ("sys/fs/cgroup/cpu.max", "20000 100000\n"),
            ],
        );
        assert_eq!(f.budget(&[], 16).threads, 1);
    }

    #[test]
    fn cgroup_v1_cfs_quota_is_read_and_minus_one_means_no_limit() {
        let f = Fake::new(
            "v1",
            &[
                ("proc/self/status", STATUS_0_7),
                ("proc/self/cgroup", "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n"),
                ("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "200000\n"),
                ("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n"),
            ],
        );
        let b = f.budget(&[], 16);
        assert_eq!(b.threads, 2, "{b:?}");
        assert!(b.reason.contains("cpu.cfs_quota_us"), "{}", b.reason);
        let f = Fake::new(
            "v1-none",
            &[
                ("proc/self/status", STATUS_0_7),
                ("proc/self/cgroup", "1:cpu:/\n"),
                ("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n"),
                ("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n"),
            ],
        );
        let b = f.budget(&[], 16);
        assert_eq!(b.threads, 8, "the affinity mask decides: {b:?}");
        assert!(b.reason.contains("affinity"), "{}", b.reason);
        // Inside a container the cgroup path names the host's folder, which the container mounts as its root.
        let f = Fake::new(
            "v1-container",
            &[
                ("proc/self/cgroup", "2:cpu:/kubepods/pod1/c2\n"),
                ("sys/fs/cgroup/cpu/cpu.cfs_quota_us", "400000\n"),
                ("sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n"),
            ],
        );
        assert_eq!(f.budget(&[], 64).threads, 4);
    }

    #[test]
    fn affinity_mask_slurm_and_omp_num_threads() {
        let f = Fake::new(
            "affinity",
            &[
                ("proc/self/status", "Cpus_allowed_list:\t0-1,4\n"),
                ("proc/self/cgroup", "0::/\n"),
            ],
        );
        let b = f.budget(&[], 32);
        assert_eq!((b.threads, b.reason.as_str()), (3, "affinity mask allows 3 CPUs"));
        assert_eq!(f.budget(&[("SLURM_CPUS_PER_TASK", "2")], 32).threads, 2);
        // The user's own OMP_NUM_THREADS wins, even above the mask.
        let b = f.budget(&[("OMP_NUM_THREADS", "6"), ("SLURM_CPUS_PER_TASK", "2")], 32);
        assert_eq!((b.threads, b.reason.as_str()), (6, "OMP_NUM_THREADS=6"));
        // Nonsense values are ignored, not trusted.
        assert_eq!(
            f.budget(&[("OMP_NUM_THREADS", "0"), ("SLURM_CPUS_PER_TASK", "x")], 32)
                .threads,
            3
        );
        // Nothing readable at all: the online CPUs.
        let empty = Fake::new("empty", &[]);
        let b = empty.budget(&[], 2);
        assert_eq!((b.threads, b.reason.as_str()), (2, "2 CPUs online"));
    }

    #[test]
    fn other_load_comes_off_the_budget_in_whole_cpus() {
        let b = |n: usize| CpuBudget {
            threads: n,
            reason: format!("{n} CPUs online"),
        };
        assert_eq!(b(2).leaving_room_for(0.1), b(2), "background noise is not load");
        let one = b(2).leaving_room_for(1.02);
        assert_eq!(one.threads, 1);
        assert!(one.reason.contains("other processes keep 1.0 busy"), "{}", one.reason);
        assert_eq!(b(8).leaving_room_for(2.6).threads, 5);
        assert_eq!(b(4).leaving_room_for(9.0).threads, 1, "never below one thread");
        assert_eq!(b(1).leaving_room_for(1.0), b(1));
    }

    #[test]
    fn busy_cpus_reads_proc_stat_deltas() {
        // A fake /proc/stat does not change while we sleep: no time passed, no figure.
        let f = Fake::new(
            "stat",
            &[(
                "proc/stat",
                "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\ncpu1 50 0 25 400 25 0 0 0 0 0\n",
            )],
        );
        assert_eq!(busy_cpus(&f.root, std::time::Duration::from_millis(1)), None);
        // The real one: between 0 and the CPU count.
        if let Some(b) = busy_cpus(Path::new("/"), std::time::Duration::from_millis(50)) {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            assert!((0.0..=n + 0.01).contains(&b), "{b}");
        }
    }

    #[test]
    fn runqueue_wait_sums_the_tasks_of_a_fake_process() {
        let f = Fake::new(
            "sched",
            &[
                ("proc/self/task/10/schedstat", "5000 2000000000 7\n"),
                ("proc/self/task/11/schedstat", "5000 500000000 3\n"),
            ],
        );
        assert!((runqueue_wait_seconds(&f.root).unwrap() - 2.5).abs() < 1e-9);
        assert_eq!(runqueue_wait_seconds(&Fake::new("nosched", &[]).root), None);
    }
}
