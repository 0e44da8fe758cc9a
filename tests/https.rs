//! HTTPS in the default build: the `roma-assets` binary against the reference server behind TLS
//! with a certificate from a private, self-signed CA. Trusted through `--ca-bundle`, the call
//! works; without it, it fails on the certificate, naming it.

mod support;

use std::time::Duration;

use assert_cmd::Command;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509, X509NameBuilder};
use roma_assets::cli::serve::default_max_upload_bytes;

const TOKEN: &str = "https-test-token";

fn key() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

/// A certificate for `name` signed by `issuer` (itself when `None`: the CA).
fn certificate(name: &str, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>) -> X509 {
    let mut subject = X509NameBuilder::new().unwrap();
    subject.append_entry_by_text("CN", name).unwrap();
    let subject = subject.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    builder
        .set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    builder.set_subject_name(&subject).unwrap();
    builder.set_pubkey(key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let signing_key = match issuer {
        None => {
            builder.set_issuer_name(&subject).unwrap();
            builder
                .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            builder
                .append_extension(
                    KeyUsage::new()
                        .critical()
                        .key_cert_sign()
                        .crl_sign()
                        .build()
                        .unwrap(),
                )
                .unwrap();
            key
        }
        Some((ca, ca_key)) => {
            builder.set_issuer_name(ca.subject_name()).unwrap();
            let san = SubjectAlternativeName::new()
                .dns("localhost")
                .ip("127.0.0.1")
                .build(&builder.x509v3_context(Some(ca), None))
                .unwrap();
            builder.append_extension(san).unwrap();
            ca_key
        }
    };
    builder.sign(signing_key, MessageDigest::sha256()).unwrap();
    builder.build()
}

/// A TCP listener whose connections are TLS, for `axum::serve`.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_native_tls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_native_tls::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that refuses the certificate ends its handshake: accept the next one.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[test]
fn the_cli_talks_https_to_an_endpoint_of_a_private_ca_given_with_ca_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = key();
    let ca = certificate("roma-assets test CA", &ca_key, None);
    let server_key = key();
    let server_cert = certificate("localhost", &server_key, Some((&ca, &ca_key)));
    let ca_pem = dir.path().join("ca.pem");
    std::fs::write(&ca_pem, ca.to_pem().unwrap()).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data_dir = dir.path().join("data");
    let identity = native_tls::Identity::from_pkcs8(
        &server_cert.to_pem().unwrap(),
        &server_key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    let port = runtime.block_on(async move {
        let service = support::demo_service(&data_dir, TOKEN).await;
        let listener = TlsListener {
            tcp: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
            acceptor: native_tls::TlsAcceptor::new(identity).unwrap().into(),
        };
        let port = listener.tcp.local_addr().unwrap().port();
        let router = support::conformance::layer(
            service.router(default_max_upload_bytes()),
            support::conformance::repository_documents(),
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        port
    });

    let cli = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roma-assets"));
        cmd.env("ROMA_ASSETS_ENDPOINT", format!("https://localhost:{port}"))
            .env("ROMA_ASSETS_PROJECT", "demo")
            .env("ROMA_ASSETS_INSTANCE", "demo")
            .env("ROMA_ASSETS_TOKEN", TOKEN)
            .env_remove("ROMA_ASSETS_CA_BUNDLE")
            .env_remove("RUST_LOG")
            .timeout(Duration::from_secs(60));
        cmd
    };
    let trusted = cli()
        .args(["apps", "--json", "--ca-bundle"])
        .arg(&ca_pem)
        .assert()
        .success();
    let listing: serde_json::Value = serde_json::from_slice(&trusted.get_output().stdout).unwrap();
    assert!(listing.to_string().contains("demo-app-orders"), "{listing}");

    let untrusted = cli().arg("apps").assert().code(1);
    let stderr = String::from_utf8_lossy(&untrusted.get_output().stderr).to_string();
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
}
