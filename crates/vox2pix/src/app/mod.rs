//! The application layer: whole jobs that a command runs, built from the layers below. It owns the orchestration —
//! training jobs over run folders ([`jobs`]), the demo pipeline ([`demo`]), ablations ([`ablation`]), paired comparisons ([`compare`]), multi-seed studies ([`study`]) and the
//! benchmarks against the PyTorch twin ([`bench`] for single steps, [`bench_epoch`] for a decoder epoch) — so
//! that the binary only parses arguments and calls in here.
pub mod ablation;
pub mod bench;
pub mod bench_epoch;
pub mod compare;
pub mod demo;
pub mod jobs;
pub mod layers;
pub mod study;
pub mod variants;
