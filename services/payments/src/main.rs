//! `payments`: serves the payments API locally or under Lambda. See `payments --help`.

fn main() -> anyhow::Result<()> {
    kit::serve::main(&payments::SERVICE)
}
