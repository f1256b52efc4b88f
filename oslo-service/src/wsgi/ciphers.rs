//! `[ssl] ciphers` read as OpenSSL reads a cipher list (`HIGH:!aNULL:!MD5`, `DEFAULT`,
//! `EECDH+AESGCM:EDH+AESGCM`, …), over the suites rustls offers.
//!
//! OpenSSL's rules, on a list of every suite in its preference order: a word (`HIGH`,
//! a suite's name, or aliases joined by `+`, meaning all of them at once) adds the
//! suites it matches that are not in yet, at the end; `+WORD` moves those in to the
//! end; `-WORD` takes them out (a later word may add them again); `!WORD` takes them out
//! for good; `@STRENGTH` sorts by key length, strongest first; `@SECLEVEL=n` drops what
//! that level forbids. A word OpenSSL knows but that matches nothing here (`MEDIUM`,
//! `EDH`, `AES256-SHA`…) changes nothing, as a word it does not know changes nothing in
//! OpenSSL. TLS 1.3's suites are not in a cipher list (OpenSSL sets them apart): all
//! are offered, unless the list names some, which are then the only ones.

use rustls::SupportedCipherSuite;

/// How a suite agrees its keys, proves who the server is, and encrypts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    Rsa,
    Ecdsa,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20,
}

/// A TLS 1.2 suite rustls may offer, as OpenSSL describes it.
#[derive(Debug)]
struct Suite {
    openssl: &'static str,
    iana: &'static str,
    auth: Auth,
    cipher: Cipher,
}

impl Suite {
    fn bits(&self) -> u16 {
        match self.cipher {
            Cipher::Aes128Gcm => 128,
            Cipher::Aes256Gcm | Cipher::Chacha20 => 256,
        }
    }
}

/// rustls' TLS 1.2 suites, in OpenSSL's own order of preference (`openssl ciphers ALL`).
const TLS12: [Suite; 6] = [
    Suite {
        openssl: "ECDHE-ECDSA-AES256-GCM-SHA384",
        iana: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        auth: Auth::Ecdsa,
        cipher: Cipher::Aes256Gcm,
    },
    Suite {
        openssl: "ECDHE-RSA-AES256-GCM-SHA384",
        iana: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        auth: Auth::Rsa,
        cipher: Cipher::Aes256Gcm,
    },
    Suite {
        openssl: "ECDHE-ECDSA-CHACHA20-POLY1305",
        iana: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        auth: Auth::Ecdsa,
        cipher: Cipher::Chacha20,
    },
    Suite {
        openssl: "ECDHE-RSA-CHACHA20-POLY1305",
        iana: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        auth: Auth::Rsa,
        cipher: Cipher::Chacha20,
    },
    Suite {
        openssl: "ECDHE-ECDSA-AES128-GCM-SHA256",
        iana: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        auth: Auth::Ecdsa,
        cipher: Cipher::Aes128Gcm,
    },
    Suite {
        openssl: "ECDHE-RSA-AES128-GCM-SHA256",
        iana: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        auth: Auth::Rsa,
        cipher: Cipher::Aes128Gcm,
    },
];

/// TLS 1.3's suites: OpenSSL's names (the IANA ones) and rustls' names.
const TLS13: [(&str, &str); 3] = [
    ("TLS_AES_256_GCM_SHA384", "TLS13_AES_256_GCM_SHA384"),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
    ),
    ("TLS_AES_128_GCM_SHA256", "TLS13_AES_128_GCM_SHA256"),
];

/// OpenSSL's aliases that match none of the suites above: kept apart so that a list
/// using them is read as OpenSSL reads it, not taken for a typo.
const MATCH_NONE: &[&str] = &[
    "MEDIUM",
    "LOW",
    "EXPORT",
    "EXP",
    "eNULL",
    "NULL",
    "aNULL",
    "COMPLEMENTOFALL",
    "COMPLEMENTOFDEFAULT",
    "kRSA",
    "RSA",
    "kDHE",
    "kEDH",
    "DHE",
    "EDH",
    "DH",
    "ADH",
    "AECDH",
    "kPSK",
    "PSK",
    "kECDHEPSK",
    "ECDHEPSK",
    "kDHEPSK",
    "DHEPSK",
    "kRSAPSK",
    "RSAPSK",
    "aPSK",
    "kSRP",
    "SRP",
    "aDSS",
    "DSS",
    "aGOST",
    "aGOST01",
    "kGOST",
    "GOST94",
    "GOST89MAC",
    "3DES",
    "DES",
    "RC4",
    "RC2",
    "IDEA",
    "SEED",
    "MD5",
    "SHA1",
    "SHA",
    "SHA256",
    "SHA384",
    "CAMELLIA",
    "CAMELLIA128",
    "CAMELLIA256",
    "ARIA",
    "ARIA128",
    "ARIA256",
    "ARIAGCM",
    "AESCCM",
    "AESCCM8",
    "SSLv3",
    "TLSv1",
    "TLSv1.0",
    "kECDH",
    "aECDH",
    "ECDH-ECDSA",
    "AEAD",
];

/// A word's test on a suite; `None` when the word is not known here.
fn alias(word: &str, suite: &Suite) -> Option<bool> {
    if word.eq_ignore_ascii_case(suite.openssl) || word.eq_ignore_ascii_case(suite.iana) {
        return Some(true);
    }
    let matched = match word {
        "ALL" | "HIGH" | "TLSv1.2" | "kEECDH" | "kECDHE" | "EECDH" | "ECDHE" | "ECDH" => true,
        "aRSA" => suite.auth == Auth::Rsa,
        "aECDSA" | "ECDSA" => suite.auth == Auth::Ecdsa,
        "AES" | "AESGCM" => suite.cipher != Cipher::Chacha20,
        "AES128" => suite.cipher == Cipher::Aes128Gcm,
        "AES256" => suite.cipher == Cipher::Aes256Gcm,
        "CHACHA20" => suite.cipher == Cipher::Chacha20,
        word if MATCH_NONE.contains(&word) || is_known_name(word) => false,
        _ => return None,
    };
    Some(matched)
}

/// A suite name of another suite of the table (or of TLS 1.3): known, matches others.
fn is_known_name(word: &str) -> bool {
    TLS12
        .iter()
        .any(|s| word.eq_ignore_ascii_case(s.openssl) || word.eq_ignore_ascii_case(s.iana))
        || tls13_named(word).is_some()
}

fn tls13_named(word: &str) -> Option<&'static str> {
    TLS13
        .iter()
        .find(|(openssl, rustls)| {
            word.eq_ignore_ascii_case(openssl) || word.eq_ignore_ascii_case(rustls)
        })
        .map(|(_, rustls)| *rustls)
}

/// Whether every term of `terms` (a word's parts joined by `+`) matches; `None` when one
/// is unknown.
fn matches(terms: &[&str], suite: &Suite) -> Option<bool> {
    let mut all = true;
    for term in terms {
        all &= alias(term, suite)?;
    }
    Some(all)
}

/// The suites of `offered` that the OpenSSL cipher list `list` keeps, TLS 1.3's first,
/// and the words of it that nothing here knows (ignored, as OpenSSL ignores them).
pub(super) fn select(
    list: &str,
    offered: &[SupportedCipherSuite],
) -> Result<(Vec<SupportedCipherSuite>, Vec<String>), String> {
    // OpenSSL's default list, in OpenSSL 3's words.
    let words = list
        .split([':', ',', ' ', ';'])
        .filter(|word| !word.is_empty())
        .flat_map(|word| match word {
            "DEFAULT" => vec!["ALL", "!COMPLEMENTOFDEFAULT", "!eNULL"],
            word => vec![word],
        });
    // (index in TLS12, in the list, removed for good), in list order.
    let mut order: Vec<(usize, bool, bool)> = (0..TLS12.len()).map(|i| (i, false, false)).collect();
    let mut tls13_named_ones: Vec<&'static str> = Vec::new();
    let mut unknown = Vec::new();
    let mut seclevel = 0;
    for word in words {
        if word.eq_ignore_ascii_case("@STRENGTH") {
            order.sort_by_key(|&(index, _, _)| std::cmp::Reverse(TLS12[index].bits()));
            continue;
        }
        if let Some(level) = word.strip_prefix("@SECLEVEL=") {
            seclevel = level
                .parse()
                .map_err(|_| format!("invalid security level in '{word}'"))?;
            continue;
        }
        let (op, rest) = match word.as_bytes()[0] {
            b'!' | b'-' | b'+' => (word.as_bytes()[0], &word[1..]),
            _ => (b'=', word),
        };
        let terms: Vec<&str> = rest.split('+').filter(|t| !t.is_empty()).collect();
        if terms.is_empty() {
            continue;
        }
        if let [name] = terms[..] {
            if let Some(rustls_name) = tls13_named(name) {
                if op == b'=' && !tls13_named_ones.contains(&rustls_name) {
                    tls13_named_ones.push(rustls_name);
                }
                continue;
            }
        }
        if terms
            .iter()
            .any(|term| matches(&[term], &TLS12[0]).is_none())
        {
            unknown.push(word.to_owned());
            continue;
        }
        let hit = |index: usize| matches(&terms, &TLS12[index]) == Some(true);
        match op {
            b'=' => {
                let added: Vec<(usize, bool, bool)> = order
                    .iter()
                    .filter(|&&(index, active, killed)| !active && !killed && hit(index))
                    .map(|&(index, _, _)| (index, true, false))
                    .collect();
                order.retain(|&(index, active, killed)| active || killed || !hit(index));
                order.extend(added);
            }
            b'+' => {
                let moved: Vec<(usize, bool, bool)> = order
                    .iter()
                    .filter(|&&(index, active, _)| active && hit(index))
                    .copied()
                    .collect();
                order.retain(|&(index, active, _)| !(active && hit(index)));
                order.extend(moved);
            }
            b'-' => {
                for entry in order.iter_mut().filter(|entry| hit(entry.0)) {
                    entry.1 = false;
                }
            }
            _ => {
                for entry in order.iter_mut().filter(|entry| hit(entry.0)) {
                    entry.1 = false;
                    entry.2 = true;
                }
            }
        }
    }
    // Level 4 asks for 192 bits of security, 5 for 256: AES-128 falls short of both.
    let strong_enough = |index: usize| seclevel < 4 || TLS12[index].bits() >= 192;
    let find = |name: &str| {
        offered
            .iter()
            .find(|suite| format!("{:?}", suite.suite()) == name)
            .copied()
    };
    let tls12: Vec<SupportedCipherSuite> = order
        .iter()
        .filter(|&&(index, active, _)| active && strong_enough(index))
        .filter_map(|&(index, _, _)| find(TLS12[index].iana))
        .collect();
    let tls13: Vec<SupportedCipherSuite> = if tls13_named_ones.is_empty() {
        offered
            .iter()
            .filter(|suite| suite.tls13().is_some())
            .copied()
            .collect()
    } else {
        tls13_named_ones
            .iter()
            .filter_map(|name| find(name))
            .collect()
    };
    if tls12.is_empty() && tls13_named_ones.is_empty() {
        return Err(format!(
            "it leaves none of the TLS 1.2 suites offered ({}){}",
            TLS12
                .iter()
                .map(|s| s.openssl)
                .collect::<Vec<_>>()
                .join(", "),
            if unknown.is_empty() {
                String::new()
            } else {
                format!("; not understood: {}", unknown.join(", "))
            }
        ));
    }
    let mut suites = tls13;
    suites.extend(tls12);
    Ok((suites, unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered() -> Vec<SupportedCipherSuite> {
        rustls::crypto::ring::DEFAULT_CIPHER_SUITES.to_vec()
    }

    /// The TLS 1.2 suites chosen, by OpenSSL's names, in order.
    fn tls12_names(list: &str) -> Result<Vec<String>, String> {
        let (suites, _) = select(list, &offered())?;
        Ok(suites
            .iter()
            .filter(|suite| suite.tls13().is_none())
            .filter_map(|suite| {
                let iana = format!("{:?}", suite.suite());
                TLS12
                    .iter()
                    .find(|s| s.iana == iana)
                    .map(|s| s.openssl.to_owned())
            })
            .collect())
    }

    /// Cipher lists from deployment guides, distributions and OpenStack's docs.
    const LISTS: &[&str] = &[
        "HIGH:!aNULL:!MD5",
        "DEFAULT",
        "EECDH+AESGCM:EDH+AESGCM",
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384",
        "EECDH+AESGCM:EDH+AESGCM:AES256+EECDH:AES256+EDH",
        "HIGH:!aNULL:!eNULL:!EXPORT:!DES:!RC4:!MD5:!PSK:!SRP:!CAMELLIA",
        "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!MD5:!DSS",
        "ALL:!ADH:!EXPORT:!SSLv2:RC4+RSA:+HIGH:+MEDIUM:+LOW",
        "AES128+EECDH:AES128+EDH",
        "HIGH:@STRENGTH",
        "CHACHA20:AESGCM",
        "ECDHE:+AES128",
        "ALL:-ECDSA:+ECDSA",
        "ECDHE:!AES128:AES128",
        "ECDHE:-AES128:AES128",
        "DEFAULT:@SECLEVEL=4",
        "DEFAULT:!aRSA",
        "kEECDH+AES128:-aRSA",
        "AES256:CHACHA20:@STRENGTH",
        "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
        "!aNULL:HIGH",
        "FOO:HIGH",
    ];

    /// `openssl` on this machine, installed from Debian's packages when missing and
    /// root can (CI runs as root).
    fn openssl() -> std::path::PathBuf {
        let found = |path: &str| std::path::Path::new(path).exists().then(|| path.into());
        if let Some(path) = found("/usr/bin/openssl") {
            return path;
        }
        if rustix::process::getuid().is_root() {
            let _ = std::process::Command::new("apt-get")
                .args(["install", "-y", "openssl"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status();
        }
        found("/usr/bin/openssl").expect("openssl: install Debian's openssl package")
    }

    #[test]
    fn cipher_lists_choose_what_openssl_chooses() {
        let openssl = openssl();
        let ours: Vec<&str> = TLS12.iter().map(|s| s.openssl).collect();
        for list in LISTS {
            let output = std::process::Command::new(&openssl)
                .args(["ciphers", "-s", "-tls1_2", list])
                .output()
                .unwrap();
            let theirs: Vec<String> = String::from_utf8_lossy(&output.stdout)
                .trim()
                .split(':')
                .filter(|name| ours.contains(name))
                .map(str::to_owned)
                .collect();
            match tls12_names(list) {
                Ok(names) => assert_eq!(names, theirs, "{list}"),
                Err(error) => assert!(theirs.is_empty(), "{list}: {error}, openssl: {theirs:?}"),
            }
        }
    }

    #[test]
    fn tls13_suites_stay_unless_named_and_nothing_left_is_an_error() {
        let (all, _) = select("HIGH", &offered()).unwrap();
        assert_eq!(all.iter().filter(|s| s.tls13().is_some()).count(), 3);
        let (only, _) = select("TLS_AES_128_GCM_SHA256", &offered()).unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(format!("{:?}", only[0].suite()), "TLS13_AES_128_GCM_SHA256");
        let error = select("MEDIUM:!HIGH", &offered()).unwrap_err();
        assert!(error.contains("leaves none"), "{error}");
        let error = select("HIHG", &offered()).unwrap_err();
        assert!(error.contains("not understood: HIHG"), "{error}");
        let (_, unknown) = select("HIGH:NOPE", &offered()).unwrap();
        assert_eq!(unknown, ["NOPE"]);
    }
}
