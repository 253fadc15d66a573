//! `payments`: serves the payments API locally or under Lambda. See `payments --help`.

use std::sync::Arc;

use clap::Parser;
use kit::memory::MemoryTable;
use kit::serve::{ServeArgs, StoreKind};
use payments::{PaymentStore, PaymentTable};

/// The payments service: take, read and refund payments, idempotently.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:\n  payments --listen 127.0.0.1:8081 --region us-east-1\n  \
                  payments --store dynamodb --dynamodb-endpoint http://127.0.0.1:5000 --table payments --create-table\n\n\
                  Under Lambda (AWS_LAMBDA_RUNTIME_API set) --listen is ignored."
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    kit::telemetry::init(payments::NAME);
    let spec = payments::table_spec();
    let store: Arc<dyn PaymentStore> = match cli.serve.store {
        StoreKind::Memory => Arc::new(PaymentTable::new(MemoryTable::new(
            &spec.name,
            cli.serve.region.clone(),
        ))),
        StoreKind::Dynamodb => Arc::new(PaymentTable::new(Arc::new(
            cli.serve.dynamo_table(&spec).await?,
        ))),
    };
    let router = payments::router(store, cli.serve.region.clone());
    kit::serve::run(router, cli.serve.listen).await
}
