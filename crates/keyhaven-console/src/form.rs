//! Decoded `application/x-www-form-urlencoded` pairs (form bodies and query strings), in their order.

use zeroize::Zeroize;

/// Name and value pairs; a name may repeat. Values are wiped when the form is dropped: forms carry typed secret
/// keys, secret values and SecureString values.
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Drop for Form {
    fn drop(&mut self) {
        for (_, value) in &mut self.0 {
            value.zeroize();
        }
    }
}

impl Form {
    pub fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name` with surrounding whitespace removed, if not empty.
    pub fn trimmed(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }
}
