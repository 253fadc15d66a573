//! `orders`: serves the orders API locally or under Lambda. See `orders --help`.

use std::sync::Arc;

use clap::Parser;
use kit::memory::MemoryTable;
use kit::serve::{ServeArgs, StoreKind};
use orders::{OrderStore, OrderTable};

/// The orders service: place, read, list and cancel orders.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:\n  orders --listen 127.0.0.1:8081 --region us-east-1\n  \
                  orders --store dynamodb --dynamodb-endpoint http://127.0.0.1:5000 --table orders --create-table\n\n\
                  Under Lambda (AWS_LAMBDA_RUNTIME_API set) --listen is ignored."
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    kit::telemetry::init(orders::NAME);
    let spec = orders::table_spec();
    let store: Arc<dyn OrderStore> = match cli.serve.store {
        StoreKind::Memory => Arc::new(OrderTable::new(MemoryTable::new(
            &spec.name,
            cli.serve.region.clone(),
        ))),
        StoreKind::Dynamodb => Arc::new(OrderTable::new(Arc::new(
            cli.serve.dynamo_table(&spec).await?,
        ))),
    };
    let router = orders::router(store, cli.serve.region.clone());
    kit::serve::run(router, cli.serve.listen).await
}
