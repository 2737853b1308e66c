//! The PIN as it crosses the control socket (typed by the user into the app, the CLI or an
//! agent). Zeroized when dropped, redacted in `Debug`, readable only through
//! [`Pin::expose_secret`]; serialized as a plain JSON string, because that is what the user
//! typed.

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pin(String);

impl Pin {
    pub fn new(pin: String) -> Self {
        Pin(pin)
    }

    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Pin {
    fn from(pin: String) -> Self {
        Pin(pin)
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_a_json_string_and_never_printed() {
        let p = Pin::new("4711".into());
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"4711\"");
        assert_eq!(serde_json::from_str::<Pin>("\"4711\"").unwrap(), p);
        assert!(!format!("{p:?}").contains("4711"));
    }
}
