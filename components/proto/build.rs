//! Generates Rust code for every .proto in the repository's `proto/` directory.
//!
//! protoc comes from `$PROTOC` when set, else from the `protoc-bin-vendored` crate, so a
//! plain `cargo build` needs nothing installed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time: one compiled build script may serve several checkouts that
    // share a target directory, and must find the protos of the one being built.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "prometheus/types.proto",
        "prometheus/remote.proto",
        "thanos/labelpb/types.proto",
        "thanos/storepb/types.proto",
        "thanos/storepb/rpc.proto",
        "thanos/infopb/rpc.proto",
        "thanos/metadatapb/rpc.proto",
        "cairn/ingest/v1/ingest.proto",
        "cairn/meta/v1/meta.proto",
    ]
    .map(|f| root.join(f));
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        std::env::set_var("PROTOC", protoc);
    }
    let include = protoc_bin_vendored::include_path()?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Receivers forward the series bytes they received; `Bytes` keeps them shared.
        .bytes(".cairn.ingest.v1.PushRequest.timeseries")
        .bytes(".cairn.ingest.v1.PushRequest.metadata")
        .compile_protos(&files, &[root.clone(), include])?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
