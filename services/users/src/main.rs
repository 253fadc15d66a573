//! `users`: serves the users API locally or under Lambda. See `users --help`.

#[global_allocator]
static ALLOCATOR: kit::serve::Allocator = kit::serve::Allocator;

fn main() -> anyhow::Result<()> {
    kit::serve::main(&users::SERVICE)
}
