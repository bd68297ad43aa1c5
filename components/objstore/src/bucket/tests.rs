use super::*;

async fn exercise(bucket: &Bucket) {
    bucket
        .put("t1/b1/meta.json", Bytes::from_static(b"{}"))
        .await
        .unwrap();
    bucket
        .put("t1/b1/block.parquet", Bytes::from(vec![7u8; 1000]))
        .await
        .unwrap();
    bucket
        .put("t2/b2/meta.json", Bytes::from_static(b"{}"))
        .await
        .unwrap();

    assert_eq!(
        bucket.get("t1/b1/meta.json").await.unwrap(),
        Bytes::from_static(b"{}")
    );
    assert_eq!(
        bucket
            .get_range("t1/b1/block.parquet", 10..20)
            .await
            .unwrap(),
        Bytes::from(vec![7u8; 10])
    );
    assert_eq!(bucket.head("t1/b1/block.parquet").await.unwrap().size, 1000);
    assert!(bucket.exists("t1/b1/meta.json").await.unwrap());
    assert!(!bucket.exists("t1/b9/meta.json").await.unwrap());
    let err = bucket.get("t1/b9/meta.json").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("t1/b9/meta.json"), "{err}");

    assert_eq!(bucket.list_dirs("").await.unwrap(), vec!["t1", "t2"]);
    assert_eq!(bucket.list_dirs("t1").await.unwrap(), vec!["b1"]);
    let mut listed: Vec<_> = bucket
        .list("t1")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.path)
        .collect();
    listed.sort();
    assert_eq!(listed, vec!["t1/b1/block.parquet", "t1/b1/meta.json"]);

    bucket.delete("t1/b1/block.parquet").await.unwrap();
    bucket.delete("t1/b1/block.parquet").await.unwrap();
    assert!(!bucket.exists("t1/b1/block.parquet").await.unwrap());
}

#[tokio::test]
async fn memory_bucket_operations() {
    exercise(&Bucket::memory()).await;
}

#[tokio::test]
async fn filesystem_bucket_operations_and_large_upload() {
    let dir = tempfile::tempdir().unwrap();
    let bucket =
        Bucket::from_config(&BucketConfig::filesystem(dir.path().join("b")), dir.path()).unwrap();
    exercise(&bucket).await;

    // Larger than one multipart part, so the upload goes in pieces.
    let local = dir.path().join("big");
    let data: Vec<u8> = (0..12 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    assert_eq!(
        bucket.upload_file(&local, "t3/big").await.unwrap(),
        data.len() as u64
    );
    assert_eq!(bucket.get("t3/big").await.unwrap(), Bytes::from(data));
}

#[tokio::test]
async fn prefix_keeps_objects_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BucketConfig::filesystem(dir.path());
    cfg.prefix = "cluster-a".into();
    let a = Bucket::from_config(&cfg, dir.path()).unwrap();
    a.put("t/x", Bytes::from_static(b"1")).await.unwrap();
    assert!(dir.path().join("cluster-a/t/x").exists());
    let plain = Bucket::from_config(&BucketConfig::filesystem(dir.path()), dir.path()).unwrap();
    assert_eq!(plain.list_dirs("").await.unwrap(), vec!["cluster-a"]);
}

#[test]
fn config_rejects_unknown_fields_and_bad_s3_settings() {
    let err = serde_yaml::from_str::<BucketConfig>("backend: s3\ns3:\n  bukket: x\n").unwrap_err();
    assert!(err.to_string().contains("bukket"), "{err}");

    let cfg: BucketConfig =
        serde_yaml::from_str("backend: s3\ns3:\n  endpoint: http://localhost:9000\n").unwrap();
    assert!(cfg
        .validate()
        .unwrap_err()
        .to_string()
        .contains("bucket.s3.bucket"));

    let cfg: BucketConfig =
        serde_yaml::from_str("backend: s3\ns3:\n  bucket: b\n  endpoint: http://localhost:9000\n")
            .unwrap();
    assert!(cfg.validate().unwrap_err().to_string().contains("insecure"));

    let cfg: BucketConfig = serde_yaml::from_str(
        "backend: s3\ns3:\n  bucket: b\n  endpoint: http://localhost:9000\n  insecure: true\n  request_timeout: 10s\n",
    )
    .unwrap();
    cfg.validate().unwrap();
    assert_eq!(cfg.s3.request_timeout, std::time::Duration::from_secs(10));
}
