//! A TCP proxy between the test app's pool and PostgreSQL that can cut the database off
//! (close every connection and refuse new ones) and restore it.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use spool::{queue::EngineOptions, sqs::SqsConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestApp, server_url};

/// Forwards TCP to PostgreSQL until cut: then it closes every connection and stops listening
/// (so new connections are refused) until restored on the same port.
pub struct Proxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    live: Mutex<CancellationToken>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            upstream,
            live: Mutex::new(CancellationToken::new()),
        });
        proxy.forward(listener);
        proxy
    }

    fn forward(&self, listener: TcpListener) {
        let (token, upstream) = (self.live.lock().unwrap().clone(), self.upstream);
        tokio::spawn(async move {
            loop {
                let mut client = tokio::select! {
                    () = token.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => client,
                        Err(_) => continue,
                    },
                };
                let token = token.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        () = token.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.live.lock().unwrap().cancel();
    }

    /// Accepts connections again on the same address.
    pub async fn restore(&self) {
        *self.live.lock().unwrap() = CancellationToken::new();
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebind the proxy");
        self.forward(listener);
    }
}

/// The app with its pool behind a proxy it can cut.
pub async fn app_behind_proxy(sqs: SqsConfig) -> (TestApp, Arc<Proxy>) {
    let server = server_url().await;
    let upstream = server.split('@').nth(1).unwrap().split('/').next().unwrap();
    let proxy = Proxy::start(upstream.parse().unwrap()).await;
    let app = TestApp::spawn_via(
        EngineOptions {
            stats_max_age: Duration::ZERO,
            ..EngineOptions::default()
        },
        sqs,
        |url| url.replace(upstream, &proxy.addr.to_string()),
    )
    .await;
    (app, proxy)
}
