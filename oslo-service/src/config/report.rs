//! What a configuration says about itself: its options' values at start
//! (`log_options`), the options no declaration knows, and how a value may be shown
//! (secrets masked).

use super::mask;
use super::unknown::{self, Unknown};
use super::{Config, ConfigError, Masker, RawValue, ServiceOptions, Snapshot, typed};

impl Config {
    /// Whether the value of `option` in `group` is a secret: declared `secret`, or named
    /// as oslo.utils' `mask_password` knows secrets (`*password*`, `*token*`…).
    pub fn is_secret(&self, group: &str, option: &str) -> bool {
        self.spec(group, option).is_some_and(|spec| spec.secret) || mask::name_is_secret(option)
    }

    /// `text`, a value of `option` in `group`, as a log line or a console may show it:
    /// `****` for a secret or a value substituted from one, otherwise with the
    /// credentials inside it masked (a URL's password, `password=…` pairs).
    ///
    /// ```
    /// let conf = oslo::Config::default();
    /// assert_eq!(conf.shown_value("database", "connection", "mysql://nova:pw@db/nova"), "mysql://nova:****@db/nova");
    /// assert_eq!(conf.shown_value("keystone_authtoken", "password", "pw"), "****");
    /// ```
    pub fn shown_value(&self, group: &str, option: &str, text: &str) -> String {
        self.masker(&self.snapshot())
            .show(self.is_secret(group, option), text)
            .into_owned()
    }

    /// `err` as it may be shown: the values it quotes masked as this configuration's
    /// values are (secrets, values substituted from one, URLs that do not read).
    pub(crate) fn masked_error(&self, err: ConfigError) -> ConfigError {
        super::declared::masked_error(err, &self.shared.declared, &self.snapshot())
    }

    /// What masks the values of `snapshot` under this configuration's declarations.
    pub(crate) fn masker(&self, snapshot: &Snapshot) -> Masker {
        let declared = &self.shared.declared;
        Masker::new(snapshot, |group, option| {
            declared.get(group, option).is_some_and(|spec| spec.secret)
        })
    }

    /// Options set in a registered group that no declaration knows: probably a typo.
    /// (Groups that no registered group declares are [`Config::warn_unknown_options`]'s
    /// too.)
    pub fn unknown_options(&self) -> Vec<(String, String)> {
        self.unknown()
            .into_iter()
            .filter(|unknown| unknown.declared)
            .flat_map(|unknown| {
                let group = unknown.group;
                unknown
                    .options
                    .into_iter()
                    .map(move |option| (group.clone(), option.name))
            })
            .collect()
    }

    /// What the values set hold that no declaration knows, by group, with where and the
    /// closest declared names.
    pub(crate) fn unknown(&self) -> Vec<Unknown> {
        let declared = &self.shared.declared;
        let known = |group: &str, option: &str| declared.get(group, option).is_some();
        unknown::find(&self.shared.groups, known, &self.snapshot())
    }

    /// Logs what no declaration knows: one warning per group, naming where it was set
    /// and, for a near miss, the declared name (`did you mean`). An undeclared group
    /// is one line whatever it holds; a declared one lists its unknown options
    /// (`[DEFAULT]`, which services share with their libraries, may hold hundreds).
    /// `#[oslo::main]` calls it once for the host, in the parent of workers, and again
    /// after each accepted reload.
    pub fn warn_unknown_options(&self) {
        for unknown in self.unknown() {
            let at = unknown.at().unwrap_or("environment").to_owned();
            if unknown.declared {
                tracing::warn!(
                    group = %unknown.group,
                    count = unknown.options.len(),
                    options = %unknown.options_text(),
                    "unknown options"
                );
            } else if let Some(suggestion) = unknown.group_suggestion {
                tracing::warn!(
                    group = %unknown.group,
                    %at,
                    did_you_mean = %suggestion,
                    "options group that no declaration of this program knows"
                );
            } else {
                tracing::warn!(
                    group = %unknown.group,
                    %at,
                    "options group that no declaration of this program knows"
                );
            }
        }
    }

    /// What `#[oslo::main]` does once logging is set up, in a program's one process or
    /// the parent of its workers: warns of unknown groups and options and, when
    /// `log_options` is true, logs every option's value.
    pub fn log_at_start(&self) {
        let files = self.sources().paths().unwrap_or_default();
        tracing::info!(?files, "configuration read");
        self.warn_unknown_options();
        if self
            .group::<ServiceOptions>()
            .is_ok_and(|options| options.log_options)
        {
            self.log_options();
        }
    }

    /// Logs every registered option's value at DEBUG, secrets as `****`: oslo.config's
    /// `log_opt_values`.
    pub fn log_options(&self) {
        let snapshot = self.snapshot();
        let files = self.sources().paths().unwrap_or_default();
        tracing::debug!(?files, "configuration options gathered");
        let masker = self.masker(&snapshot);
        for info in self.groups() {
            for spec in (info.options)() {
                let values = typed::values_found(&snapshot, spec, false);
                let value = joined(values)
                    .or_else(|| spec.default_text())
                    .unwrap_or_else(|| "None".to_owned());
                let secret = spec.secret || mask::name_is_secret(spec.name);
                tracing::debug!(
                    option = %spec.qualified_name(),
                    value = %masker.show(secret, &value),
                    "option value"
                );
            }
        }
    }
}

/// The values of an option as one text, `, ` between them; `None` when it has none.
pub(super) fn joined(values: &[RawValue]) -> Option<String> {
    (!values.is_empty()).then(|| {
        values
            .iter()
            .map(|v| v.text.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    })
}
