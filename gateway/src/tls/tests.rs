//! Loading real PEM files (made here with rcgen) and serving https over a real socket
//! to hyper and rustls clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use rcgen::KeyPair;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::testing::TestPki;
use super::*;

/// A CA and a certificate it signed, as PEM files in a directory of their own.
struct Files {
    dir: tempfile::TempDir,
    pki: TestPki,
    ca: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create(dir.path());
    Files {
        ca: pki.ca_file.clone(),
        dir,
        pki,
    }
}

fn settings(files: &Files) -> TlsSettings {
    files.pki.settings()
}

fn load_error(settings: TlsSettings) -> (String, String) {
    match Tls::load(settings) {
        Err(GatewayError::Tls { variable, message }) => (variable, message),
        Err(other) => panic!("expected a TLS error, got {other}"),
        Ok(_) => panic!("expected a TLS error, it loaded"),
    }
}

#[test]
fn unusable_files_are_refused_naming_the_variable_and_the_file() {
    let files = files();
    let garbage = files.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let missing = files.dir.path().join("missing.pem");

    let (variable, message) = load_error(TlsSettings {
        cert_file: missing.clone(),
        ..settings(&files)
    });
    assert_eq!(variable, "LIBPROCESS_SSL_CERT_FILE");
    assert!(message.contains("missing.pem"), "{message}");

    let (variable, message) = load_error(TlsSettings {
        cert_file: garbage.clone(),
        ..settings(&files)
    });
    assert_eq!(variable, "LIBPROCESS_SSL_CERT_FILE");
    assert!(message.contains("no PEM certificate"), "{message}");

    let (variable, _) = load_error(TlsSettings {
        key_file: garbage.clone(),
        ..settings(&files)
    });
    assert_eq!(variable, "LIBPROCESS_SSL_KEY_FILE");

    // A key that is not the certificate's.
    let other = files.dir.path().join("other-key.pem");
    std::fs::write(&other, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let (variable, message) = load_error(TlsSettings {
        key_file: other,
        ..settings(&files)
    });
    assert_eq!(variable, "LIBPROCESS_SSL_KEY_FILE");
    assert!(message.contains("cert.pem"), "{message}");

    let (variable, _) = load_error(TlsSettings {
        ca_file: Some(missing),
        ..settings(&files)
    });
    assert_eq!(variable, "LIBPROCESS_SSL_CA_FILE");

    let empty = tempfile::tempdir().unwrap();
    let (variable, _) = load_error(TlsSettings {
        ca_file: None,
        ca_dir: Some(empty.path().to_path_buf()),
        ..settings(&files)
    });
    assert_eq!(variable, "LIBPROCESS_SSL_CA_DIR");
}

#[test]
fn a_ca_directory_trusts_the_certificates_of_its_files() {
    let files = files();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&files.ca, dir.path().join("5a1b2c3d.0")).unwrap();
    std::fs::write(dir.path().join("README"), "not a certificate").unwrap();
    let tls = Tls::load(TlsSettings {
        ca_file: None,
        ca_dir: Some(dir.path().to_path_buf()),
        ..settings(&files)
    });
    assert!(tls.is_ok(), "{:?}", tls.err());
}

async fn serve(tls: &Tls) -> SocketAddr {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = listener(tcp, Some(tls)).unwrap();
    let app = Router::new().route("/hello", get(|| async { "hello" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn get_with(tls: Option<&Tls>, url: &str) -> Result<String, String> {
    let client = crate::tcp::http_client::<Empty<Bytes>>(tls);
    let response = client
        .get(url.parse().unwrap())
        .await
        .map_err(|e| format!("{e:?}"))?;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Sends a plain HTTP request and reads until the server answers or closes.
async fn plain_http(addr: SocketAddr) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn https_is_served_to_clients_that_trust_the_ca_only() {
    let files = files();
    let tls = Tls::load(settings(&files)).unwrap();
    let addr = serve(&tls).await;
    let port = addr.port();

    assert_eq!(
        get_with(Some(&tls), &format!("https://127.0.0.1:{port}/hello")).await,
        Ok("hello".to_string())
    );
    assert_eq!(
        get_with(Some(&tls), &format!("https://localhost:{port}/hello")).await,
        Ok("hello".to_string())
    );
    // Trusting nothing (a process without TLS), the handshake fails.
    let untrusting = get_with(None, &format!("https://127.0.0.1:{port}/hello")).await;
    assert!(untrusting.is_err(), "{untrusting:?}");
    // Plain HTTP gets no HTTP answer.
    let plain = plain_http(addr).await;
    assert!(!plain.starts_with("HTTP/1.1"), "{plain}");
}

#[tokio::test]
async fn on_the_loopback_a_certificate_for_another_name_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::create_for(dir.path(), &["node1.example"]);
    let tls = Tls::load(pki.settings()).unwrap();
    let addr = serve(&tls).await;
    // 127.0.0.1, where executors reach their agent: the chain is what counts.
    assert_eq!(
        get_with(Some(&tls), &format!("https://{addr}/hello")).await,
        Ok("hello".to_string())
    );
    // A name is checked, loopback or not.
    let by_name = get_with(
        Some(&tls),
        &format!("https://localhost:{}/hello", addr.port()),
    )
    .await;
    assert!(by_name.is_err(), "{by_name:?}");
    // And the chain still is: a client of another authority is refused on the loopback.
    let strangers = self::files();
    let other = Tls::load(strangers.pki.settings()).unwrap();
    let refused = get_with(Some(&other), &format!("https://{addr}/hello")).await;
    assert!(refused.is_err(), "{refused:?}");
}

#[tokio::test]
async fn with_downgrade_plain_http_is_served_on_the_same_port() {
    let files = files();
    let tls = Tls::load(TlsSettings {
        support_downgrade: true,
        ..settings(&files)
    })
    .unwrap();
    let addr = serve(&tls).await;
    let plain = plain_http(addr).await;
    assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");
    assert!(plain.ends_with("hello"), "{plain}");
    assert_eq!(
        get_with(Some(&tls), &format!("https://{addr}/hello")).await,
        Ok("hello".to_string())
    );
}

#[tokio::test]
async fn with_downgrade_a_client_falls_back_to_plain_http() {
    let files = files();
    // A server without TLS.
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let app = Router::new().route("/hello", get(|| async { "hello" }));
    tokio::spawn(async move {
        axum::serve(listener(tcp, None).unwrap(), app)
            .await
            .unwrap()
    });
    let url = format!("https://{addr}/hello");

    let strict = Tls::load(settings(&files)).unwrap();
    let refused = get_with(Some(&strict), &url).await;
    assert!(refused.is_err(), "{refused:?}");
    let downgrading = Tls::load(TlsSettings {
        support_downgrade: true,
        ..settings(&files)
    })
    .unwrap();
    assert_eq!(
        get_with(Some(&downgrading), &url).await,
        Ok("hello".to_string())
    );
    // Against a TLS server it still speaks TLS: a server without downgrade answers.
    let tls_server = serve(&strict).await;
    assert_eq!(
        get_with(Some(&downgrading), &format!("https://{tls_server}/hello")).await,
        Ok("hello".to_string())
    );
}

#[tokio::test]
async fn without_verification_any_server_certificate_is_taken() {
    let files = files();
    let server = Tls::load(settings(&files)).unwrap();
    let addr = serve(&server).await;
    // A client whose only trusted authority did not sign the server's certificate.
    let strangers = self::files();
    let client = TlsSettings {
        ca_file: Some(strangers.ca.clone()),
        ..settings(&strangers)
    };
    let verifying = Tls::load(client.clone()).unwrap();
    let refused = get_with(Some(&verifying), &format!("https://{addr}/hello")).await;
    assert!(refused.is_err(), "{refused:?}");
    let trusting = Tls::load(TlsSettings {
        verify_server_cert: false,
        ..client
    })
    .unwrap();
    assert_eq!(
        get_with(Some(&trusting), &format!("https://{addr}/hello")).await,
        Ok("hello".to_string())
    );
}

#[tokio::test]
async fn required_client_certificates_are_checked() {
    let files = files();
    let tls = Tls::load(TlsSettings {
        require_client_cert: true,
        ..settings(&files)
    })
    .unwrap();
    let addr = serve(&tls).await;
    // Our own client presents the process's certificate, which the CA signed.
    assert_eq!(
        get_with(Some(&tls), &format!("https://{addr}/hello")).await,
        Ok("hello".to_string())
    );
    // A client that trusts the server but presents nothing is refused.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(files.pki.ca.clone()).unwrap();
    let anonymous = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let answer = talk(anonymous, addr).await;
    assert!(
        !matches!(&answer, Ok(text) if text.contains("hello")),
        "{answer:?}"
    );
}

/// A raw TLS connection with `config` that sends a request and reads the answer; a
/// refused client certificate shows as an error on the first read (TLS 1.3 sends the
/// certificate after the client's handshake completes).
async fn talk(config: rustls::ClientConfig, addr: SocketAddr) -> Result<String, String> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[test]
fn the_scheme_follows_tls() {
    let files = files();
    let tls = Tls::load(settings(&files)).unwrap();
    assert_eq!(scheme(Some(&tls)), "https");
    assert_eq!(scheme(None), "http");
    assert!(Path::new(&tls.settings().cert_file).exists());
}
