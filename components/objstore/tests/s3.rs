//! The bucket against a real S3 server (moto_server).

use bytes::Bytes;
use cairn_objstore::testing::S3Server;
use cairn_objstore::Bucket;

#[tokio::test]
async fn s3_bucket_round_trip_and_outage_error() {
    let mut server = S3Server::start();
    let cfg = server.bucket("cairn-test");
    let dir = tempfile::tempdir().unwrap();
    let bucket = Bucket::from_config(&cfg, dir.path()).unwrap();
    assert!(bucket.description().starts_with("s3:http://127.0.0.1:"));

    bucket
        .put("t/b/meta.json", Bytes::from_static(b"{\"v\":1}"))
        .await
        .unwrap();
    let local = dir.path().join("blk");
    let data: Vec<u8> = (0..11 << 20).map(|i| (i % 253) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    bucket
        .upload_file(&local, "t/b/block.parquet")
        .await
        .unwrap();

    assert_eq!(
        bucket.get("t/b/meta.json").await.unwrap(),
        Bytes::from_static(b"{\"v\":1}")
    );
    assert_eq!(
        bucket
            .get_range("t/b/block.parquet", 5_000_000..5_000_010)
            .await
            .unwrap(),
        Bytes::copy_from_slice(&data[5_000_000..5_000_010])
    );
    assert_eq!(bucket.list_dirs("t").await.unwrap(), vec!["b"]);
    assert!(bucket.get("t/x").await.unwrap_err().is_not_found());
    bucket.delete("t/b/meta.json").await.unwrap();
    assert!(!bucket.exists("t/b/meta.json").await.unwrap());

    server.stop();
    let err = bucket.get("t/b/block.parquet").await.unwrap_err();
    assert!(
        !err.is_not_found(),
        "an outage is not a missing object: {err}"
    );
    assert!(err.to_string().contains("t/b/block.parquet"), "{err}");
}
