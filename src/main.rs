fn main() {
    std::process::exit(vox2pix::cli::main());
}
