//! A throw-away certificate authority for the TLS tests: a CA and a server certificate for `127.0.0.1` and
//! `localhost`, made by `openssl` in a temp dir.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use reqwest::blocking::Client;

use crate::TempDir;

/// A CA and a server certificate for `127.0.0.1` and `localhost`, signed by it, in a temp dir.
#[derive(Debug)]
pub struct LocalCa {
    dir: TempDir,
}

impl Default for LocalCa {
    fn default() -> Self {
        LocalCa::new()
    }
}

impl LocalCa {
    /// Make the CA and the server certificate (runs `openssl`).
    pub fn new() -> LocalCa {
        let dir = TempDir::new("tls-ca");
        let ext = dir.path().join("server.ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extension file");
        let ca = LocalCa { dir };
        ca.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=gateway e2e test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        ca.openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        ca.openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        ca
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A file in the CA's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// The server certificate (PEM).
    pub fn cert(&self) -> PathBuf {
        self.path("server.pem")
    }

    /// The server key (PEM).
    pub fn key(&self) -> PathBuf {
        self.path("server.key")
    }

    /// A certificate for the DNS name `name` (also its common name) signed by this CA, with a fresh RSA
    /// key: the paths of `<file>.pem` and `<file>.key`. `name` may be a wildcard (`*.example.test`).
    pub fn issue(&self, name: &str, file: &str) -> (PathBuf, PathBuf) {
        let ext = format!(
            "subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        );
        self.sign(name, file, &ext)
    }

    /// A TLS client certificate (`extendedKeyUsage=clientAuth`) with common name `cn`, signed by this CA: the
    /// paths of `<file>.pem` and `<file>.key`.
    pub fn issue_client(&self, cn: &str, file: &str) -> (PathBuf, PathBuf) {
        let ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";
        self.sign(cn, file, ext)
    }

    /// A fresh RSA key and a certificate for it with common name `cn` and the X.509 extensions `extensions`
    /// (an openssl extension file's text), signed by this CA: the paths of `<file>.pem` and `<file>.key`.
    fn sign(&self, cn: &str, file: &str, extensions: &str) -> (PathBuf, PathBuf) {
        let ext = format!("{file}.ext");
        std::fs::write(self.path(&ext), extensions).expect("write the extension file");
        let (key, csr, pem) = (
            format!("{file}.key"),
            format!("{file}.csr"),
            format!("{file}.pem"),
        );
        let subject = format!("/CN={cn}");
        self.openssl(&[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
            &subject,
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
        (self.path(&pem), self.path(&key))
    }

    /// A blocking client that trusts this CA (and nothing invalid).
    pub fn client(&self) -> Client {
        let pem = std::fs::read(self.ca_pem()).expect("read ca.pem");
        Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("parse ca.pem"))
            .build()
            .expect("build the TLS test client")
    }
}
