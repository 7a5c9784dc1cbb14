//! sha256 of model files while they stream past, with a progress bar: what
//! `tandem models manifest` and `tandem models pull` both do to every byte.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// A bar over `total` bytes labelled `verb` (hidden when `show` is false,
/// as in tests and pipes).
pub(crate) fn bar(total: u64, verb: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let template = format!("{verb} {{msg:24}} {{bar:30}} {{bytes}}/{{total_bytes}} ({{bytes_per_sec}})");
    ProgressBar::new(total).with_style(
        ProgressStyle::with_template(&template)
            .expect("a valid template")
            .progress_chars("=> "),
    )
}

/// A sha256 and byte count over everything copied through it, from one
/// reader or several in turn (the parts of a split file).
#[derive(Default)]
pub(crate) struct Sha256Stream {
    hasher: Sha256,
    bytes: u64,
}

impl Sha256Stream {
    /// Copies `from` into `to`, hashing and counting; `what` names the
    /// source in errors.
    pub(crate) fn feed(
        &mut self,
        from: &mut impl Read,
        to: &mut impl Write,
        bar: &ProgressBar,
        what: &str,
    ) -> Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = from.read(&mut buf).with_context(|| format!("reading {what}"))?;
            if n == 0 {
                return Ok(());
            }
            self.hasher.update(&buf[..n]);
            to.write_all(&buf[..n]).with_context(|| format!("writing {what}"))?;
            self.bytes += n as u64;
            bar.inc(n as u64);
        }
    }

    /// The sha256 (hex) and byte count of all that was fed.
    pub(crate) fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.bytes)
    }
}

/// Copies `from` into `to`, returning the sha256 (hex) and the byte count of
/// what was copied; `what` names the source in errors.
pub(crate) fn copy_hashing(
    from: &mut impl Read,
    to: &mut impl Write,
    bar: &ProgressBar,
    what: &str,
) -> Result<(String, u64)> {
    let mut stream = Sha256Stream::default();
    stream.feed(from, to, bar, what)?;
    Ok(stream.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_and_hashes_what_passes() {
        let mut out = Vec::new();
        let (sha, n) = copy_hashing(&mut &b"abc"[..], &mut out, &ProgressBar::hidden(), "test").unwrap();
        assert_eq!(out, b"abc");
        assert_eq!(n, 3);
        assert_eq!(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
