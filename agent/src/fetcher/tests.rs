#![allow(clippy::unwrap_used)]
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use super::*;

fn uri(value: &str) -> Uri {
    Uri {
        value: value.to_string(),
        ..Uri::default()
    }
}

fn tgz_with_script() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let body = b"#!/bin/sh\necho from the archive\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    builder
        .append_data(&mut header, "bin/run.sh", &body[..])
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

#[test]
fn output_files_stay_in_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandbox");
    std::fs::create_dir(&sandbox).unwrap();
    assert_eq!(
        confine(&sandbox, "a/b.txt").unwrap(),
        sandbox.join("a/b.txt")
    );
    assert!(sandbox.join("a").is_dir());
    for bad in ["/etc/passwd", "../x", "a/../../x", "", ".", "a/.."] {
        assert!(confine(&sandbox, bad).is_err(), "{bad:?}");
    }
    // A link out of the sandbox is no way out either.
    std::os::unix::fs::symlink(dir.path(), sandbox.join("out")).unwrap();
    assert!(confine(&sandbox, "out/x").is_err());
    std::os::unix::fs::symlink("/etc/passwd", sandbox.join("pw")).unwrap();
    assert!(confine(&sandbox, "pw").is_err());
}

#[tokio::test]
async fn local_files_executable_extracted_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandbox");
    std::fs::create_dir(&sandbox).unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("tool"), b"#!/bin/sh\n").unwrap();
    std::fs::write(src.join("app.tgz"), tgz_with_script()).unwrap();

    let fetcher = Fetcher::new(dir.path().join("cache"), DEFAULT_CACHE_SIZE, None);
    let uris = vec![
        Uri {
            executable: Some(true),
            ..uri(&src.join("tool").display().to_string())
        },
        uri(&format!("file://{}", src.join("app.tgz").display())),
        Uri {
            extract: Some(false),
            output_file: Some("keep/it.tgz".to_string()),
            ..uri(&src.join("app.tgz").display().to_string())
        },
    ];
    fetcher.fetch_all(&uris, &sandbox).await.unwrap();
    let mode = std::fs::metadata(sandbox.join("tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert!(sandbox.join("bin/run.sh").is_file());
    // Bypassing the cache, the archive stays beside what it held.
    assert!(sandbox.join("app.tgz").is_file());
    assert!(sandbox.join("keep/it.tgz").is_file());
    assert!(!sandbox.join("keep/bin").exists());
    let log = std::fs::read_to_string(sandbox.join("stderr")).unwrap();
    assert_eq!(log.matches("Fetching URI").count(), 3, "{log}");
    assert_eq!(log.matches("Fetched '").count(), 3, "{log}");
    assert!(log.contains("Extracted"), "{log}");
}

#[tokio::test]
async fn cached_archives_leave_only_their_contents() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("app.tar.gz");
    std::fs::write(&src, tgz_with_script()).unwrap();
    let fetcher = Fetcher::new(dir.path().join("cache"), DEFAULT_CACHE_SIZE, None);
    let cached = Uri {
        cache: Some(true),
        ..uri(&src.display().to_string())
    };
    for n in 0..2 {
        let sandbox = dir.path().join(format!("s{n}"));
        std::fs::create_dir(&sandbox).unwrap();
        fetcher
            .fetch_all(std::slice::from_ref(&cached), &sandbox)
            .await
            .unwrap();
        assert!(sandbox.join("bin/run.sh").is_file());
        assert!(!sandbox.join("app.tar.gz").exists());
    }
    assert!(fetcher.cache.contains(&cached.value));
}

#[tokio::test]
async fn failures_name_the_uri_and_stop_the_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().to_path_buf();
    let fetcher = Fetcher::new(dir.path().join("cache"), DEFAULT_CACHE_SIZE, None);
    let corrupt = dir.path().join("src.tar.gz");
    std::fs::write(&corrupt, b"garbage").unwrap();
    for (bad, why) in [
        ("/no/such/file", "cannot copy"),
        ("ftp://example.invalid/a", "ftp"),
        (corrupt.to_str().unwrap(), "cannot extract"),
    ] {
        let uris = vec![uri(bad), uri("/never/reached")];
        let error = fetcher.fetch_all(&uris, &sandbox).await.unwrap_err();
        assert_eq!(error.uri, bad);
        assert!(error.to_string().contains(bad), "{error}");
        assert!(error.reason.contains(why), "{error}");
    }
    let log = std::fs::read_to_string(sandbox.join("stderr")).unwrap();
    assert!(!log.contains("/never/reached"), "{log}");
    let escape = Uri {
        output_file: Some("../x".to_string()),
        ..uri(corrupt.to_str().unwrap())
    };
    let error = fetcher.fetch_all(&[escape], &sandbox).await.unwrap_err();
    assert!(error.reason.contains("inside the sandbox"), "{error}");
}

#[test]
fn byte_sizes() {
    assert_eq!(parse_bytes("2GB").unwrap(), DEFAULT_CACHE_SIZE);
    assert_eq!(parse_bytes("512MB").unwrap(), 512 << 20);
    assert_eq!(parse_bytes("1.5KB").unwrap(), 1536);
    assert_eq!(parse_bytes("10").unwrap(), 10);
    assert_eq!(parse_bytes("10B").unwrap(), 10);
    assert_eq!(parse_bytes("0B").unwrap(), 0);
    for bad in ["", "GB", "2XB", "-1MB", "2 G"] {
        assert!(parse_bytes(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn https_uris_are_fetched_trusting_the_agents_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = ratufa_gateway::tls::testing::TestPki::create(dir.path());
    let tls = ratufa_gateway::Tls::load(pki.settings()).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = ratufa_gateway::tls::listener(tcp, Some(&tls)).unwrap();
    let app = axum::Router::new().route("/tool", axum::routing::get(|| async { "#!/bin/sh\n" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let url = format!("https://127.0.0.1:{port}/tool");

    for (n, cache) in [false, true].into_iter().enumerate() {
        let sandbox = dir.path().join(format!("trusting-{n}"));
        std::fs::create_dir(&sandbox).unwrap();
        let fetcher = Fetcher::new(sandbox.join("cache"), DEFAULT_CACHE_SIZE, Some(&tls));
        let tool = Uri {
            cache: Some(cache),
            ..uri(&url)
        };
        fetcher.fetch_all(&[tool], &sandbox).await.unwrap();
        assert_eq!(std::fs::read(sandbox.join("tool")).unwrap(), b"#!/bin/sh\n");
    }

    // Trusting only the system's authorities, the test CA's certificate is refused.
    let sandbox = dir.path().join("untrusting");
    std::fs::create_dir(&sandbox).unwrap();
    let fetcher = Fetcher::new(sandbox.join("cache"), DEFAULT_CACHE_SIZE, None);
    let error = fetcher.fetch_all(&[uri(&url)], &sandbox).await.unwrap_err();
    assert!(error.reason.contains("certificate"), "{error}");
    assert!(!sandbox.join("tool").exists());
}
