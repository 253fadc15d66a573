//! `orders`: serves the orders API locally or under Lambda. See `orders --help`.

#[global_allocator]
static ALLOCATOR: kit::serve::Allocator = kit::serve::Allocator;

fn main() -> anyhow::Result<()> {
    kit::serve::main(&orders::SERVICE)
}
