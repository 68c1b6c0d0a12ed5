// TF32 switches of libtorch's global context (tch has no binding for them).
#include <ATen/Context.h>
extern "C" void vox2pix_set_tf32(int on) {
  at::globalContext().setAllowTF32CuDNN(on != 0);
  at::globalContext().setAllowTF32CuBLAS(on != 0);
}
extern "C" int vox2pix_tf32_cudnn() { return at::globalContext().allowTF32CuDNN() ? 1 : 0; }

// Autocast (mixed precision) per device type; tch 0.24 only binds the deprecated CUDA-only switch.
// device: 0 = CPU, 1 = CUDA, 2 = MPS. dtype: 0 = bfloat16, 1 = float16.
#include <ATen/autocast_mode.h>
static at::DeviceType vox2pix_device_type(int device) {
  switch (device) {
    case 1: return at::kCUDA;
    case 2: return at::kMPS;
    default: return at::kCPU;
  }
}
// Turns autocast on for `device` in `dtype`; writes the previous state to *was_on / *was_dtype for the restore.
extern "C" void vox2pix_autocast_enter(int device, int dtype, int* was_on, int* was_dtype) {
  at::DeviceType t = vox2pix_device_type(device);
  *was_on = at::autocast::is_autocast_enabled(t) ? 1 : 0;
  *was_dtype = static_cast<int>(at::autocast::get_autocast_dtype(t));
  at::autocast::set_autocast_dtype(t, dtype == 1 ? at::kHalf : at::kBFloat16);
  at::autocast::set_autocast_enabled(t, true);
  at::autocast::increment_nesting();
}
extern "C" void vox2pix_autocast_exit(int device, int was_on, int was_dtype) {
  at::DeviceType t = vox2pix_device_type(device);
  // Leaving the outermost region frees the cached low-precision copies of the weights.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(t, was_on != 0);
  at::autocast::set_autocast_dtype(t, static_cast<at::ScalarType>(was_dtype));
}

// DLPack exchange (nn/dlpack.rs): tensors cross to and from Python (NumPy, PyTorch) without a copy. tch
// represents a tensor as a heap-allocated `at::Tensor*` that it deletes when the Rust `Tensor` drops.
#include <ATen/DLConvertor.h>
#include <cstring>
static void vox2pix_write_error(const char* what, char* err, size_t len) {
  if (len == 0) return;
  std::strncpy(err, what, len - 1);
  err[len - 1] = '\0';
}
// Takes ownership of `managed` (its deleter runs when the tensor's storage is freed). Null on failure, with the
// reason in `err`; `managed` is then still the caller's.
extern "C" at::Tensor* vox2pix_from_dlpack(DLManagedTensor* managed, char* err, size_t len) {
  try {
    return new at::Tensor(at::fromDLPack(managed));
  } catch (const std::exception& e) {
    vox2pix_write_error(e.what(), err, len);
    return nullptr;
  }
}
// A DLPack view of `t` that keeps its storage alive until the consumer calls the view's deleter.
extern "C" DLManagedTensor* vox2pix_to_dlpack(const at::Tensor* t, char* err, size_t len) {
  try {
    return at::toDLPack(*t);
  } catch (const std::exception& e) {
    vox2pix_write_error(e.what(), err, len);
    return nullptr;
  }
}
// Frees a view nobody consumed.
extern "C" void vox2pix_dlpack_delete(DLManagedTensor* managed) {
  if (managed != nullptr && managed->deleter != nullptr) managed->deleter(managed);
}

// Adam / AMSGrad over n parameters in libtorch's fused kernel (`torch.optim.Adam(fused=True)`): one pass over
// each parameter instead of a dozen element-wise ops and their temporaries (train/optim.rs). `steps` are the
// float step counts the kernel reads (the caller advances them); `max_exp_avg_sqs` is ignored unless `amsgrad`.
// 0 on success; 1 with the reason in `err`.
#include <ATen/ops/_fused_adam.h>
#include <ATen/core/grad_mode.h>
#include <vector>
extern "C" int vox2pix_fused_adam(const at::Tensor* const* params, const at::Tensor* const* grads,
                                  const at::Tensor* const* exp_avgs, const at::Tensor* const* exp_avg_sqs,
                                  const at::Tensor* const* max_exp_avg_sqs, const at::Tensor* const* steps,
                                  int n, double lr, double beta1, double beta2, double eps, int amsgrad, char* err,
                                  size_t len) {
  try {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> p, g, m, v, vmax, s;
    for (int i = 0; i < n; ++i) {
      p.push_back(*params[i]);
      g.push_back(*grads[i]);
      m.push_back(*exp_avgs[i]);
      v.push_back(*exp_avg_sqs[i]);
      if (amsgrad != 0) vmax.push_back(*max_exp_avg_sqs[i]);
      s.push_back(*steps[i]);
    }
    at::_fused_adam_(p, g, m, v, vmax, s, lr, beta1, beta2, 0.0, eps, amsgrad != 0, false);
    return 0;
  } catch (const std::exception& e) {
    vox2pix_write_error(e.what(), err, len);
    return 1;
  }
}
