//! The users service binary: a local HTTP server, or a Lambda function when
//! `AWS_LAMBDA_RUNTIME_API` is set.

use std::sync::Arc;

use clap::Parser;
use kit::memory::MemoryTable;
use kit::serve::{ServeArgs, StoreKind};

/// The users service: create, read, list, update (with If-Match) and delete users.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    kit::telemetry::init(users::NAME);
    let Cli { serve } = Cli::parse();
    let region = serve.region.clone();
    let router = match serve.store {
        StoreKind::Memory => {
            users::local_router(region.clone(), MemoryTable::new(users::NAME, region))
        }
        StoreKind::Dynamodb => {
            let table = serve.dynamo_table(&users::table()).await?;
            let store = users::DynamoUserStore::new(Arc::new(table), region.clone());
            users::router(Arc::new(store), region)
        }
    };
    kit::serve::run(router, serve.listen).await
}
