//! Traffic for any service, from its own `GET /openapi.json`: the document is parsed, the
//! operations traffic can use are derived from it (pure, unit-tested on fixture documents),
//! and values for their bodies, headers and queries are built from the schemas.

mod derive;
mod document;
mod template;

pub(crate) use derive::{
    Collection, Derivation, HeaderFill, ItemPath, QueryFill, ServiceApi, Update, UpdateKind,
    derive, percent_encode,
};
pub(crate) use document::Document;
