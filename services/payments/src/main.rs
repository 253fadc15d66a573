//! `payments`: serves the payments API locally or under Lambda. See `payments --help`.

#[global_allocator]
static ALLOCATOR: kit::serve::Allocator = kit::serve::Allocator;

fn main() -> anyhow::Result<()> {
    kit::serve::main(&payments::SERVICE)
}
