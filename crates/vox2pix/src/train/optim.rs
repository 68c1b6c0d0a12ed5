//! Adam with the AMSGrad variant (the paper's optimiser), implemented on tensors so that its state (moments,
//! step count) can be checkpointed and a resumed run continues bit-for-bit like an uninterrupted one.
//! libtorch's C++ optimisers, as exposed by tch, cannot export their state. The update itself is libtorch's fused
//! Adam kernel (`torch.optim.Adam(fused=True)`, through the crate's C++ shim).
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use tch::{nn::VarStore, Kind, Tensor};

extern "C" {
    fn vox2pix_fused_adam(
        params: *const *const torch_sys::C_tensor,
        grads: *const *const torch_sys::C_tensor,
        exp_avgs: *const *const torch_sys::C_tensor,
        exp_avg_sqs: *const *const torch_sys::C_tensor,
        max_exp_avg_sqs: *const *const torch_sys::C_tensor,
        steps: *const *const torch_sys::C_tensor,
        n: i32,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        amsgrad: i32,
        err: *mut std::ffi::c_char,
        len: usize,
    ) -> i32;
}

/// Adam/AMSGrad over a fixed, name-ordered list of parameters, with exportable state (`state_tensors`).
pub struct AmsGrad {
    params: Vec<(String, Tensor)>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    max_exp_avg_sq: Vec<Tensor>,
    step: i64,
    /// Learning rate; trainers may change it between steps (schedules).
    pub lr: f64,
    /// First-moment decay (default 0.9).
    pub beta1: f64,
    /// Second-moment decay (default 0.999).
    pub beta2: f64,
    /// Denominator epsilon (default 1e-8).
    pub eps: f64,
    /// AMSGrad (the paper's Keras code, default) or plain Adam (SelfSuperReconst's `torch.optim.Adam`).
    pub amsgrad: bool,
}

impl AmsGrad {
    /// Optimises every trainable variable of `vs` (frozen ones are skipped), in name order.
    pub fn new(vs: &VarStore, lr: f64) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let zeros = |p: &Vec<(String, Tensor)>| p.iter().map(|(_, t)| t.zeros_like()).collect::<Vec<_>>();
        Self {
            exp_avg: zeros(&params),
            exp_avg_sq: zeros(&params),
            max_exp_avg_sq: zeros(&params),
            params,
            step: 0,
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            amsgrad: true,
        }
    }

    /// Updates applied so far (restored by `load_state`).
    pub fn steps_taken(&self) -> i64 {
        self.step
    }

    /// Back-propagates `loss` and applies one update. The gradients are returned by the autograd engine rather
    /// than accumulated into each parameter's `.grad` (PyTorch's `zero_grad(set_to_none=True)`): no pass to zero
    /// them, none to add into them.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let params: Vec<&Tensor> = self.params.iter().map(|(_, p)| p).collect();
        let grads = Tensor::f_run_backward(&[loss], &params, false, false).context("backward pass")?;
        self.apply(&grads)
    }

    /// One update with `grads` (one per parameter, in order; undefined ones are skipped), in libtorch's fused
    /// Adam kernel: `torch.optim.Adam(fused=True, amsgrad=self.amsgrad)`, no weight decay.
    fn apply(&mut self, grads: &[Tensor]) -> Result<()> {
        self.step += 1;
        let mut idx = Vec::with_capacity(grads.len());
        for (i, g) in grads.iter().enumerate() {
            if g.defined() {
                idx.push(i);
            }
        }
        if idx.is_empty() {
            return Ok(());
        }
        let step = self.step as f64;
        let steps: Vec<Tensor> = idx
            .iter()
            .map(|&i| Tensor::full([], step, (Kind::Float, self.params[i].1.device())))
            .collect();
        let ptrs = |ts: Vec<&Tensor>| ts.into_iter().map(|t| t.as_ptr()).collect::<Vec<_>>();
        let p = ptrs(idx.iter().map(|&i| &self.params[i].1).collect());
        let g = ptrs(idx.iter().map(|&i| &grads[i]).collect());
        let m = ptrs(idx.iter().map(|&i| &self.exp_avg[i]).collect());
        let v = ptrs(idx.iter().map(|&i| &self.exp_avg_sq[i]).collect());
        let vmax = ptrs(idx.iter().map(|&i| &self.max_exp_avg_sq[i]).collect());
        let s = ptrs(steps.iter().collect());
        let mut err = [0u8; 512];
        // SAFETY: every pointer is a live tensor owned by `self`, `grads` or `steps` for the duration of the call;
        // the kernel updates params and moments in place and keeps no reference.
        let rc = unsafe {
            vox2pix_fused_adam(
                p.as_ptr(),
                g.as_ptr(),
                m.as_ptr(),
                v.as_ptr(),
                vmax.as_ptr(),
                s.as_ptr(),
                idx.len() as i32,
                self.lr,
                self.beta1,
                self.beta2,
                self.eps,
                self.amsgrad as i32,
                err.as_mut_ptr().cast(),
                err.len(),
            )
        };
        // The kernel refuses what this type never builds (mixed devices or dtypes, mismatched shapes) and a device
        // without a fused kernel.
        if rc != 0 {
            let why = std::ffi::CStr::from_bytes_until_nul(&err)
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            bail!(
                "libtorch's fused Adam refused the update on {:?}: {why}",
                self.params[idx[0]].1.device()
            );
        }
        Ok(())
    }

    /// Optimiser state as named tensors (for a checkpoint), prefixed with `prefix`.
    pub fn state_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = vec![(format!("{prefix}step"), Tensor::from_slice(&[self.step]))];
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("{prefix}exp_avg.{name}"), self.exp_avg[i].shallow_clone()));
            out.push((format!("{prefix}exp_avg_sq.{name}"), self.exp_avg_sq[i].shallow_clone()));
            out.push((
                format!("{prefix}max_exp_avg_sq.{name}"),
                self.max_exp_avg_sq[i].shallow_clone(),
            ));
        }
        out
    }

    /// Restores what `state_tensors` saved; every parameter's state must be present with the right shape.
    pub fn load_state(&mut self, named: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        let step = named
            .get(&format!("{prefix}step"))
            .with_context(|| format!("optimizer state '{prefix}step' missing"))?;
        self.step = step.to_kind(Kind::Int64).int64_value(&[0]);
        for (i, (name, p)) in self.params.iter().enumerate() {
            for (slot, dst) in [
                ("exp_avg", &mut self.exp_avg[i]),
                ("exp_avg_sq", &mut self.exp_avg_sq[i]),
                ("max_exp_avg_sq", &mut self.max_exp_avg_sq[i]),
            ] {
                let key = format!("{prefix}{slot}.{name}");
                let src = named
                    .get(&key)
                    .with_context(|| format!("optimizer state '{key}' missing"))?;
                if src.size() != p.size() {
                    bail!(
                        "optimizer state '{key}' has shape {:?}, parameter has {:?}",
                        src.size(),
                        p.size()
                    );
                }
                tch::no_grad(|| dst.copy_(src));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device};

    /// Two AMSGrad steps on f(w) = Σ (w − c)² computed by hand (an independent scalar re-implementation).
    #[test]
    fn matches_hand_computed_amsgrad() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs
            .root()
            .var_copy("w", &Tensor::from_slice(&[0.5f64, -1.0, 2.0]).to_kind(Kind::Float));
        let c = [1.0f64, 1.0, -1.0];
        let ct = Tensor::from_slice(&c).to_kind(Kind::Float);
        let mut opt = AmsGrad::new(&vs, 0.1);
        let mut wr = [0.5f64, -1.0, 2.0];
        let (mut m, mut v, mut vmax) = ([0.0f64; 3], [0.0f64; 3], [0.0f64; 3]);
        for t in 1..=3 {
            let loss = (&w - &ct).square().sum(Kind::Float);
            opt.backward_step(&loss).unwrap();
            for j in 0..3 {
                let g = 2.0 * (wr[j] - c[j]);
                m[j] = 0.9 * m[j] + 0.1 * g;
                v[j] = 0.999 * v[j] + 0.001 * g * g;
                vmax[j] = vmax[j].max(v[j]);
                let denom = vmax[j].sqrt() / (1.0 - 0.999f64.powi(t)).sqrt() + 1e-8;
                wr[j] -= 0.1 / (1.0 - 0.9f64.powi(t)) * m[j] / denom;
            }
        }
        let got: Vec<f64> = Vec::<f64>::try_from(w.to_kind(Kind::Double)).unwrap();
        for j in 0..3 {
            assert!((got[j] - wr[j]).abs() < 1e-5, "param {j}: {} vs {}", got[j], wr[j]);
        }
    }

    /// Plain Adam (`amsgrad = false`) by hand, on a loss whose gradient shrinks after the first step, so that
    /// v falls and AMSGrad's running maximum gives a different result (variables are float32, hence 1e-5).
    #[test]
    fn plain_adam_matches_hand_computed_adam_and_differs_from_amsgrad() {
        let run = |amsgrad: bool| {
            let vs = nn::VarStore::new(Device::Cpu);
            let w = vs
                .root()
                .var_copy("w", &Tensor::from_slice(&[0.5f64, -1.0]).to_kind(Kind::Double));
            let mut opt = AmsGrad::new(&vs, 0.1);
            opt.amsgrad = amsgrad;
            for scale in [10.0, 0.1, 0.1, 0.1] {
                let loss = (&w - 1.0).square().sum(Kind::Double) * scale;
                opt.backward_step(&loss).unwrap();
            }
            Vec::<f64>::try_from(w).unwrap()
        };
        let mut wr = [0.5f64, -1.0];
        let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
        for (t, scale) in [10.0, 0.1, 0.1, 0.1].into_iter().enumerate() {
            let t = t as i32 + 1;
            for j in 0..2 {
                let g = 2.0 * scale * (wr[j] - 1.0);
                m[j] = 0.9 * m[j] + 0.1 * g;
                v[j] = 0.999 * v[j] + 0.001 * g * g;
                let denom = v[j].sqrt() / (1.0 - 0.999f64.powi(t)).sqrt() + 1e-8;
                wr[j] -= 0.1 / (1.0 - 0.9f64.powi(t)) * m[j] / denom;
            }
        }
        let adam = run(false);
        for j in 0..2 {
            assert!((adam[j] - wr[j]).abs() < 1e-5, "param {j}: {} vs {}", adam[j], wr[j]);
        }
        let ams = run(true);
        assert!(
            (ams[0] - adam[0]).abs() > 5e-5,
            "AMSGrad {ams:?} should differ from Adam {adam:?}"
        );
    }

    #[test]
    fn state_round_trip_resumes_identically() {
        let make = || {
            let vs = nn::VarStore::new(Device::Cpu);
            let w = vs.root().var_copy("w", &Tensor::from_slice(&[0.3f32, -0.2]));
            (vs, w)
        };
        let loss_of = |w: &Tensor| (w - Tensor::from_slice(&[1.0f32, 2.0])).square().sum(Kind::Float);
        let (vs_a, w_a) = make();
        let mut a = AmsGrad::new(&vs_a, 0.05);
        for _ in 0..4 {
            a.backward_step(&loss_of(&w_a)).unwrap();
        }
        let (vs_b, w_b) = make();
        let mut b = AmsGrad::new(&vs_b, 0.05);
        for _ in 0..2 {
            b.backward_step(&loss_of(&w_b)).unwrap();
        }
        let saved: HashMap<String, Tensor> = b
            .state_tensors("opt.")
            .into_iter()
            .map(|(k, t)| (k, t.copy()))
            .collect();
        let w_saved = w_b.copy();
        let (vs_c, mut w_c) = make();
        tch::no_grad(|| w_c.copy_(&w_saved));
        let mut c = AmsGrad::new(&vs_c, 0.05);
        c.load_state(&saved, "opt.").unwrap();
        for _ in 0..2 {
            c.backward_step(&loss_of(&w_c)).unwrap();
        }
        assert_eq!(c.steps_taken(), 4);
        assert!(
            w_a.allclose(&w_c, 0.0, 0.0, false),
            "resumed optimiser diverged: {w_a:?} vs {w_c:?}"
        );
    }
}
