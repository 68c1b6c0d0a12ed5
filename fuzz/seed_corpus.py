"""Writes the small seed corpus of the fuzz targets into fuzz/corpus/<target>/ (not kept in git: run this
first; see docs/fuzzing.md). Seeds are the project's own fixtures and configs plus a few hand-made files, so
every target starts from valid inputs of its format. Standard library only."""
import json
import pathlib
import shutil
import struct
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"
OUT = ROOT / "fuzz" / "corpus"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def copy(target, path):
    put(target, path.name, path.read_bytes())


def npy(descr, shape, payload, fortran=False):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", "(%s)" % "".join(f"{s}, " for s in shape) if len(shape) != 1 else f"({shape[0]},)")
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def safetensors(tensors):
    meta, blobs, off = {}, b"", 0
    for name, (dtype, shape, data) in tensors.items():
        meta[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs += data
        off += len(data)
    head = json.dumps(meta).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + blobs


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    # npz: the npz fixtures and their members as bare .npy files.
    for p in [FIX / "npz/dtypes_savez.npz", FIX / "npz/dtypes_savez_compressed.npz", FIX / "npz/sbj_dataset/sbj_3.npz",
              FIX / "npz/sbj_dataset/images_8.npz"]:
        copy("npz", p)
    with zipfile.ZipFile(FIX / "npz/dtypes_savez.npz") as z:
        for n in z.namelist():
            put("npz", "member_" + n, z.read(n))
    put("npz", "f8_fortran.npy", npy("<f8", (2, 3), struct.pack("<6d", *range(6)), fortran=True))
    put("npz", "f2_big.npy", npy(">f2", (3,), b"\x3c\x00\x40\x00\x7c\x00"))
    # bdata: small BData files of the GOD fixtures.
    for n in ["god_bdpy.h5", "god_gzip.h5", "god_old_fixed.h5", "no_metadata.h5"]:
        copy("bdata", FIX / "bdata" / n)
    for p in sorted((FIX / "vim1").glob("*.mat")):
        copy("mat", p)
    # weights: .pth archives, a small safetensors file, a model card.
    for n in ["tiny_weights.pth", "tiny_weights_legacy.pth"]:
        copy("weights", FIX / "bdata" / n)
    put("weights", "small.safetensors", safetensors({
        "conv.weight": ("F32", [2, 1, 1, 1], struct.pack("<2f", 1.0, -2.0)),
        "conv.bias": ("F32", [2], struct.pack("<2f", 0.5, 0.25)),
        "step": ("I64", [], struct.pack("<q", 7)),
    }))
    put("weights", "card.json", json.dumps({
        "format": 1, "architecture": "vgg16", "image_size": 112, "n_voxels": None, "roi": None,
        "data_hash": None, "backbone_width": 0.25, "input_norm": None, "config": {}, "extra": {"seed": "0"},
    }).encode())
    # config: every training config, and a few override sets after a `---` line.
    for p in sorted((ROOT / "configs").glob("*.toml")):
        copy("config", p)
    tiny = (ROOT / "configs/tiny.toml").read_text()
    put("config", "tiny_overrides", (tiny + "\n---\ndecoder_training.epochs=2\nroi=[\"V1\",\"V2\"]\n"
                                     "image_size=48\ncortex.areas.V1.voxels=12\n").encode())
    put("config", "world_overrides", b"\n---\ncortex.noise_shared=0.2\ntest_repeats=12\nclasses=80\n")


if __name__ == "__main__":
    main()
