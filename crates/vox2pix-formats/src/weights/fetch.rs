//! `vox2pix weights fetch`: gets the torchvision VGG16 / AlexNet ImageNet weights (download or a local file),
//! verifies their sha256, and converts the `.pth` state dict to `.safetensors` in the weights cache.
//!
//! Plain `http://` is fetched with a small std-only HTTP/1.1 client (enough for mirrors and for the tests'
//! 127.0.0.1 server); `https://` is handed to the `curl` program when it is on PATH, because a TLS stack would
//! add ~30 crates to every build (`docs/real-data.md` §4). Without curl, download the file yourself and pass
//! `--from FILE`. Nothing is left in the cache when a step fails.
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What to fetch and how to check it.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightsSource {
    /// Cache name: the safetensors file is `<name>.safetensors`.
    pub name: String,
    /// Where the `.pth` is downloaded from (http:// or https://).
    pub url: String,
    /// The sha256 the downloaded or given file must have.
    pub checksum: Checksum,
}

/// Expected sha256: the full digest when known, else the hex prefix torchvision embeds in its file names (and
/// is all `torch.hub` itself checks).
#[derive(Clone, Debug, PartialEq)]
pub enum Checksum {
    /// The whole hex digest.
    Full(String),
    /// A hex prefix of the digest (torchvision's file-name hash).
    Prefix(String),
}

impl Checksum {
    fn check(&self, digest_hex: &str, what: &str) -> Result<()> {
        let (expected, ok) = match self {
            Checksum::Full(h) => (h.to_ascii_lowercase(), digest_hex == h.to_ascii_lowercase()),
            Checksum::Prefix(p) => (
                format!("{}…", p.to_ascii_lowercase()),
                digest_hex.starts_with(&p.to_ascii_lowercase()),
            ),
        };
        if !ok {
            bail!(
                "checksum mismatch for {what}: sha256 is {digest_hex}, expected {expected}; the download is corrupt \
                 or not the torchvision file — nothing was kept, retry or check the source"
            );
        }
        Ok(())
    }
}

/// The torchvision weights vox2pix knows (`torchvision.models.vgg16` / `vgg19` / `alexnet`, ImageNet-1k v1
/// weights).
/// Full sha256 digests are not known offline; the 8-hex prefix in the file name is verified, as torch.hub does,
/// and the full digest is recorded beside the converted file.
pub fn torchvision_source(model: &str) -> Result<WeightsSource> {
    let (file, prefix) = match model {
        "vgg16" => ("vgg16-397923af.pth", "397923af"),
        "vgg19" => ("vgg19-dcbb9e9d.pth", "dcbb9e9d"),
        "alexnet" => ("alexnet-owt-7be5be79.pth", "7be5be79"),
        other => bail!("unknown model '{other}'; choose vgg16, vgg19 or alexnet"),
    };
    Ok(WeightsSource {
        name: model.to_string(),
        url: format!("https://download.pytorch.org/models/{file}"),
        checksum: Checksum::Prefix(prefix.to_string()),
    })
}

/// The weights cache: `$VOX2PIX_CACHE/weights`, else `~/.cache/vox2pix/weights` (where
/// `train::backbone::torchvision_cache_path` looks).
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("VOX2PIX_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".cache/vox2pix")
    });
    base.join("weights")
}

/// Result of a fetch.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    /// The converted `<dir>/<name>.safetensors`.
    pub safetensors: PathBuf,
    /// Full hex sha256 of the source `.pth`.
    pub sha256: String,
    /// Number of tensors converted.
    pub n_tensors: usize,
}

/// Downloads `src.url` (or copies `from`), verifies the checksum and writes `<dir>/<name>.safetensors` plus
/// `<dir>/<name>.sha256` (the full digest of the source `.pth`). On any failure no file of this fetch remains.
pub fn fetch(src: &WeightsSource, from: Option<&Path>, dir: &Path) -> Result<Fetched> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create weights cache {}", dir.display()))?;
    let part = dir.join(format!(".{}.pth.part{}", src.name, std::process::id()));
    let res = (|| -> Result<Fetched> {
        let what = match from {
            Some(p) => {
                std::fs::copy(p, &part).with_context(|| format!("cannot read weights file {}", p.display()))?;
                p.display().to_string()
            }
            None => {
                download(&src.url, &part)?;
                src.url.clone()
            }
        };
        let sha256 = sha256_file(&part)?;
        src.checksum.check(&sha256, &what)?;
        let out = dir.join(format!("{}.safetensors", src.name));
        let n_tensors = pth_to_safetensors(&part, &out).with_context(|| format!("converting {what}"))?;
        crate::io::write_bytes_atomic(
            &dir.join(format!("{}.sha256", src.name)),
            format!("{sha256}  {what}\n").as_bytes(),
        )?;
        Ok(Fetched {
            safetensors: out,
            sha256,
            n_tensors,
        })
    })();
    let _ = std::fs::remove_file(&part);
    res
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Loads a PyTorch `torch.save` state dict (zip or legacy format, [`crate::weights::pth`]) and writes its
/// tensors as safetensors, atomically. Returns the number of tensors.
pub fn pth_to_safetensors(pth: &Path, out: &Path) -> Result<usize> {
    let tensors = crate::weights::pth::read_pth(pth).context("expected a torchvision .pth file")?;
    crate::weights::write_safetensors(&tensors, out)?;
    Ok(tensors.len())
}

/// Downloads `url` into `dest` (created or truncated).
pub fn download(url: &str, dest: &Path) -> Result<()> {
    let mut url = url.to_string();
    for _ in 0..5 {
        if url.starts_with("https://") {
            return download_with_curl(&url, dest);
        }
        match http_get(&url, dest)? {
            None => return Ok(()),
            Some(location) => url = location,
        }
    }
    bail!("too many redirects fetching {url}")
}

fn download_with_curl(url: &str, dest: &Path) -> Result<()> {
    let status = std::process::Command::new("curl")
        .args(["-fsSL", "--retry", "2", "-o"])
        .arg(dest)
        .arg(url)
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => bail!("curl could not download {url} ({s}); check the network or download it and pass --from FILE"),
        Err(_) => bail!(
            "{url} needs HTTPS, which vox2pix leaves to the curl program, and curl is not on PATH; download the \
             file yourself and run `vox2pix weights fetch MODEL --from FILE`"
        ),
    }
}

/// One plain-HTTP GET. Returns `Some(location)` for a redirect, `None` when the body was written to `dest`.
fn http_get(url: &str, dest: &Path) -> Result<Option<String>> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("unsupported URL {url}; use http:// or https://"))?;
    let (hostport, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let host = hostport.rsplit_once(':').map(|(h, _)| h).unwrap_or(hostport);
    let stream = TcpStream::connect(&addr).with_context(|| format!("cannot connect to {addr} for {url}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut w = stream.try_clone()?;
    write!(w, "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: vox2pix\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n")
        .with_context(|| format!("cannot send the request to {addr}"))?;
    let mut r = BufReader::new(stream);
    let mut status_line = String::new();
    r.read_line(&mut status_line)
        .with_context(|| format!("no response from {url}"))?;
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("{url}: not an HTTP response ('{}')", status_line.trim()))?;
    let (mut length, mut chunked, mut location) = (None, false, None);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => length = v.parse::<u64>().ok(),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "location" => location = Some(v.to_string()),
                _ => {}
            }
        }
    }
    if (300..400).contains(&code) {
        let loc = location.with_context(|| format!("{url}: redirect {code} without a Location header"))?;
        let next = if loc.starts_with("http") {
            loc
        } else {
            format!("http://{hostport}{loc}")
        };
        return Ok(Some(next));
    }
    if code != 200 {
        bail!("{url}: HTTP status {code} ({}); check the address", status_line.trim());
    }
    let mut out = std::fs::File::create(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let written = if chunked {
        copy_chunked(&mut r, &mut out)?
    } else {
        std::io::copy(&mut r, &mut out)?
    };
    if let Some(n) = length {
        if written != n {
            bail!("{url}: connection closed after {written} of {n} bytes; retry the download");
        }
    }
    out.sync_all()?;
    Ok(None)
}

fn copy_chunked(r: &mut impl BufRead, out: &mut impl Write) -> Result<u64> {
    let mut total = 0u64;
    loop {
        let mut size_line = String::new();
        r.read_line(&mut size_line)?;
        let size = u64::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
            .with_context(|| format!("bad chunk size line '{}' in the HTTP response", size_line.trim()))?;
        if size == 0 {
            return Ok(total);
        }
        let n = std::io::copy(&mut r.by_ref().take(size), out)?;
        if n != size {
            bail!("HTTP response truncated inside a chunk ({n} of {size} bytes)");
        }
        total += n;
        let mut crlf = String::new();
        r.read_line(&mut crlf)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_compare_full_digests_and_prefixes() {
        let d = &format!("397923af{}", "0123456789abcdef".repeat(3) + "01234567"); // a made-up digest
        assert!(Checksum::Prefix("397923AF".into()).check(d, "x").is_ok());
        assert!(Checksum::Prefix("397923ae".into()).check(d, "x").is_err());
        assert!(Checksum::Full(d.to_string()).check(d, "x").is_ok());
        assert!(Checksum::Full(d.replace('f', "e")).check(d, "x").is_err());
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let body = b"4\r\nWiki\r\n6;ext=1\r\npedia \r\n0\r\n\r\n";
        let mut out = Vec::new();
        let n = copy_chunked(&mut &body[..], &mut out).unwrap();
        assert_eq!(out, b"Wikipedia ");
        assert_eq!(n, 10);
    }
}
