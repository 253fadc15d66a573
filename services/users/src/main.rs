//! `users`: serves the users API locally or under Lambda. See `users --help`.

fn main() -> anyhow::Result<()> {
    kit::serve::main(&users::SERVICE)
}
