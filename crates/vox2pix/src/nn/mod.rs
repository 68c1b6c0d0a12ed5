//! Layers and losses on libtorch: the frozen backbones ([`backbone`], and the BatchNorm twin that trains the
//! world's backbone, [`backbone_bn`]), the separable encoder E ([`encoder`] over [`readout`]), the decoder D
//! ([`decoder`]), their penalties ([`regularizers`]), the losses ([`losses`]), image augmentation
//! ([`augment`]) and devices, threads and autocast ([`device`], with the CPU budget in [`cpu_budget`]), and the
//! zero-copy tensor exchange with Python ([`dlpack`]); the networks of the NSD evaluation suite, in torchvision's
//! and OpenAI's layouts ([`inception`], [`efficientnet`], [`resnet`], [`clip`]). Hyperparameters are the config blocks of
//! `vox2pix_formats::config`; nothing here reads a file.
pub mod augment;
pub mod backbone;
pub mod backbone_bn;
pub mod clip;
pub mod cpu_budget;
pub mod decoder;
pub mod device;
pub mod dlpack;
pub mod efficientnet;
pub mod encoder;
pub mod inception;
pub mod losses;
pub mod pearson;
pub mod readout;
pub mod regularizers;
pub mod resnet;
