// TF32 switches of libtorch's global context (tch has no binding for them).
#include <ATen/Context.h>
extern "C" void vox2pix_set_tf32(int on) {
  at::globalContext().setAllowTF32CuDNN(on != 0);
  at::globalContext().setAllowTF32CuBLAS(on != 0);
}
extern "C" int vox2pix_tf32_cudnn() { return at::globalContext().allowTF32CuDNN() ? 1 : 0; }
