//! A source's own HTTP: `user_agent`, `headers`, `basic_auth`, `cookie_env` and `proxy`
//! (else `[poll].proxy`), checked and made into header values, each marked sensitive. A secret is read from the environment or a
//! file, never shown in a problem; one written in the file itself is allowed, with a warning.

use base64::Engine;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION, COOKIE};
use url::Url;

use super::super::raw::RawSource;
use super::super::{Proxy, SourceHttp};
use super::{source_key, Seg, Validator};

impl Validator<'_> {
    /// The `i`th source's own user agent, headers and proxy (else `default_proxy`).
    pub(super) fn source_http(
        &mut self,
        i: usize,
        s: &RawSource,
        default_proxy: Option<&Proxy>,
    ) -> SourceHttp {
        let mut http = SourceHttp {
            proxy: match &s.proxy {
                Some(p) => self.proxy(&source_key(i, "proxy"), p),
                None => default_proxy.cloned(),
            },
            ..SourceHttp::default()
        };
        if let Some(agent) = &s.user_agent {
            match HeaderValue::from_str(agent.trim()) {
                Ok(v) if !agent.trim().is_empty() => http.user_agent = Some(v),
                _ => self.problem(
                    &source_key(i, "user_agent"),
                    "must be one line of visible characters".into(),
                ),
            }
        }
        for (name, value) in &s.headers {
            let mut path = source_key(i, "headers");
            path.push(Seg::Key(name.clone()));
            match (HeaderName::from_bytes(name.as_bytes()), secret(value)) {
                (Ok(name), Some(value)) => {
                    http.headers.insert(name, value);
                }
                (Err(_), _) => self.problem(&path, format!("{name:?} is not a header name")),
                (_, None) => self.problem(
                    &path,
                    "not a header value: one line of visible characters".into(),
                ),
            }
        }
        if let Some(auth) = &s.basic_auth {
            if let Some(password) = self.password(i, auth) {
                let pair = format!("{}:{password}", auth.user);
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                if let Some(v) = secret(&format!("Basic {encoded}")) {
                    http.headers.insert(AUTHORIZATION, v);
                }
            }
        }
        if let Some(name) = &s.cookie_env {
            let path = source_key(i, "cookie_env");
            match std::env::var(name).ok().and_then(|c| secret(&c)) {
                Some(v) => {
                    http.headers.insert(COOKIE, v);
                }
                None => self.problem(
                    &path,
                    format!("the environment variable {name} is not set, or holds no header value"),
                ),
            }
        }
        http
    }

    /// The password of the `i`th source's `basic_auth`: from exactly one of `password_env`,
    /// `password_file` (relative to the config's folder, its last line break dropped) and
    /// `password` (with a warning).
    fn password(&mut self, i: usize, auth: &super::super::raw::RawBasicAuth) -> Option<String> {
        let mut path = source_key(i, "basic_auth");
        let given = [&auth.password, &auth.password_env, &auth.password_file];
        if given.iter().filter(|p| p.is_some()).count() != 1 {
            self.problem(
                &path,
                "takes a user and one of password_env, password_file and password".into(),
            );
            return None;
        }
        if let Some(name) = &auth.password_env {
            path.push(Seg::Key("password_env".into()));
            let value = std::env::var(name).ok();
            if value.is_none() {
                self.problem(&path, format!("the environment variable {name} is not set"));
            }
            return value;
        }
        if let Some(file) = &auth.password_file {
            path.push(Seg::Key("password_file".into()));
            let folder = self.path.parent().unwrap_or(std::path::Path::new(""));
            return match std::fs::read_to_string(folder.join(file)) {
                Ok(text) => Some(text.trim_end_matches(['\r', '\n']).to_owned()),
                Err(e) => {
                    self.problem(&path, format!("cannot read {file:?}: {e}"));
                    None
                }
            };
        }
        path.push(Seg::Key("password".into()));
        self.warn(
            &path,
            "a password written in the config file is readable by anyone who can read the \
             file; use password_env or password_file"
                .into(),
        );
        auth.password.clone()
    }

    /// A proxy's address at `path`: http(s) or socks5(h), with a host and port.
    pub(super) fn proxy(&mut self, path: &[Seg], raw: &str) -> Option<Proxy> {
        match Url::parse(raw.trim()) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h")
                    && u.host().is_some() =>
            {
                Some(Proxy(u))
            }
            _ => {
                self.problem(
                    path,
                    "must be a proxy's address: http://, https://, socks5:// or socks5h:// \
                     with a host (and a port)"
                        .into(),
                );
                None
            }
        }
    }
}

/// `value` as a header value never shown (`Debug` hides it), if it is one.
fn secret(value: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(value.trim()).ok()?;
    v.set_sensitive(true);
    Some(v)
}
