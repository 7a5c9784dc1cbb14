//! `tandem seal keygen`: a key for the worker's sealed channel.

use clap::Subcommand;

/// Sealed-channel tools.
#[derive(Subcommand)]
pub(crate) enum Command {
    /// Print a new X25519 key: the secret (store it as a worker secret) and
    /// the public configuration clients will see.
    Keygen {
        /// The key id (0-255); use a new id for each rotation.
        #[arg(long, default_value_t = 1)]
        key_id: u8,
    },
}

pub(crate) fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Keygen { key_id } => {
            let (key, secret) = tandem_seal::ServerKey::generate(key_id);
            println!("secret (base64url; e.g. `wrangler secret put TANDEM_SEAL_KEY_{key_id}`):\n{secret}");
            println!(
                "public configuration:\n{}",
                serde_json::to_string_pretty(&key.config())?
            );
            Ok(())
        }
    }
}
