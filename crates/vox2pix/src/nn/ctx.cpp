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
