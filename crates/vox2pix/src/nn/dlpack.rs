//! DLPack exchange of tensors with other frameworks, for the Python package: a NumPy array or a PyTorch tensor
//! becomes a [`Tensor`] over the same memory, and a [`Tensor`] becomes a DLPack view another framework can adopt.
//! The bridge is libtorch's own `at::fromDLPack` / `at::toDLPack` in the crate's C++ shim (`ctx.cpp`). It needs
//! neither libtorch_python nor Python headers, so the Python package reuses the core crate exactly as the
//! command-line binary builds it.
//!
//! Ownership follows the DLPack protocol: whoever holds a `DLManagedTensor` calls its `deleter` once, when done.
use anyhow::{bail, Result};
use std::ffi::{c_char, c_void, CStr};
use tch::Tensor;

extern "C" {
    fn vox2pix_from_dlpack(managed: *mut c_void, err: *mut c_char, len: usize) -> *mut torch_sys::C_tensor;
    fn vox2pix_to_dlpack(t: *const torch_sys::C_tensor, err: *mut c_char, len: usize) -> *mut c_void;
    fn vox2pix_dlpack_delete(managed: *mut c_void);
}

fn error_text(buf: &[u8]) -> String {
    CStr::from_bytes_until_nul(buf)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A tensor over the memory a `DLManagedTensor` describes, without a copy; the tensor now owns `managed` and
/// runs its deleter when its storage is freed.
///
/// # Safety
/// `managed` must point to a live `DLManagedTensor` that nobody else will consume or delete.
pub unsafe fn tensor_from_dlpack(managed: *mut c_void) -> Result<Tensor> {
    if managed.is_null() {
        bail!("DLPack: null tensor");
    }
    let mut err = [0u8; 512];
    let t = vox2pix_from_dlpack(managed, err.as_mut_ptr().cast(), err.len());
    if t.is_null() {
        bail!("DLPack: libtorch cannot adopt this array: {}", error_text(&err));
    }
    Ok(Tensor::from_ptr(t))
}

/// A DLPack view of `t` (the same memory, kept alive by the view). The caller owns the returned
/// `DLManagedTensor*` and must hand it to a consumer or free it with [`dlpack_delete`].
pub fn tensor_to_dlpack(t: &Tensor) -> Result<*mut c_void> {
    let mut err = [0u8; 512];
    // SAFETY: `t` is a live tensor; toDLPack only reads it and takes a reference to its storage.
    let m = unsafe { vox2pix_to_dlpack(t.as_ptr(), err.as_mut_ptr().cast(), err.len()) };
    if m.is_null() {
        bail!("DLPack: cannot export the tensor: {}", error_text(&err));
    }
    Ok(m)
}

/// Frees a view from [`tensor_to_dlpack`] that no consumer adopted.
///
/// # Safety
/// `managed` must come from [`tensor_to_dlpack`] (or another DLPack producer) and not have been consumed.
pub unsafe fn dlpack_delete(managed: *mut c_void) {
    vox2pix_dlpack_delete(managed)
}

/// The address of a tensor's first element (what a zero-copy exchange must preserve).
pub fn data_address(t: &Tensor) -> usize {
    t.data_ptr() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_round_trips_to_the_same_memory() {
        let t = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).view([2, 3]);
        let m = tensor_to_dlpack(&t).unwrap();
        // SAFETY: `m` is a fresh view that nothing else consumes.
        let back = unsafe { tensor_from_dlpack(m) }.unwrap();
        assert_eq!(data_address(&back), data_address(&t));
        assert_eq!(back.size(), vec![2, 3]);
        assert_eq!(
            Vec::<f32>::try_from(back.flatten(0, -1)).unwrap(),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        // A strided view keeps its strides: the transpose reads column-major without a copy.
        let tt = t.tr();
        let back_t = unsafe { tensor_from_dlpack(tensor_to_dlpack(&tt).unwrap()) }.unwrap();
        assert_eq!(data_address(&back_t), data_address(&t));
        assert_eq!(back_t.stride(), vec![1, 3]);
        assert_eq!(back_t.double_value(&[0, 1]), 4.0);
        // Writes through the adopted tensor are seen by the original: one buffer, not two.
        let _ = back.get(0).get(0).fill_(9.0);
        assert_eq!(t.double_value(&[0, 0]), 9.0);
    }

    #[test]
    fn an_unconsumed_view_is_freed_and_a_null_view_is_refused() {
        let t = Tensor::zeros([4], (tch::Kind::Float, tch::Device::Cpu));
        let m = tensor_to_dlpack(&t).unwrap();
        unsafe { dlpack_delete(m) };
        let err = unsafe { tensor_from_dlpack(std::ptr::null_mut()) }.unwrap_err();
        assert!(err.to_string().contains("null"), "{err}");
    }
}
