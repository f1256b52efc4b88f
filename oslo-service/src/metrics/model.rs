//! The Prometheus data model a process's registry is encoded into, and the bytes a
//! worker sends its parent: prometheus-client's protobuf encoding, length-delimited
//! families one after the other.

use prost::Message;

pub(crate) use prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::{
    Bucket, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus_client::registry::Registry;

/// The families of `registry`, in the data model.
pub(super) fn families(registry: &Registry) -> Vec<MetricFamily> {
    prometheus_client::encoding::prometheus_protobuf::encode(registry).unwrap_or_else(|err| {
        tracing::error!(error = %err, "cannot encode the metrics");
        Vec::new()
    })
}

/// `families`, as bytes.
pub(super) fn to_bytes(families: Vec<MetricFamily>) -> Vec<u8> {
    let mut bytes = Vec::new();
    for family in families {
        // Writing into a Vec only fails when it cannot grow.
        let _ = family.encode_length_delimited(&mut bytes);
    }
    bytes
}

/// The families out of a worker's bytes.
pub(crate) fn from_bytes(mut bytes: &[u8]) -> Result<Vec<MetricFamily>, prost::DecodeError> {
    let mut families = Vec::new();
    while !bytes.is_empty() {
        families.push(MetricFamily::decode_length_delimited(&mut bytes)?);
    }
    Ok(families)
}
