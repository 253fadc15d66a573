//! `orders`: serves the orders API locally or under Lambda. See `orders --help`.

fn main() -> anyhow::Result<()> {
    kit::serve::main(&orders::SERVICE)
}
