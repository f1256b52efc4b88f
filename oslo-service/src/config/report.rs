//! What a configuration says about itself: its options' values at start
//! (`log_options`), the options no declaration knows, and how a value may be shown
//! (secrets masked).

use super::mask;
use super::{Config, Masker, RawValue, ServiceOptions, Snapshot, typed};

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

    /// What masks the values of `snapshot` under this configuration's declarations.
    pub(crate) fn masker(&self, snapshot: &Snapshot) -> Masker {
        let declared = &self.shared.declared;
        Masker::new(snapshot, |group, option| {
            declared.get(group, option).is_some_and(|spec| spec.secret)
        })
    }

    /// Options set in a registered group that no declaration knows: probably a typo.
    pub fn unknown_options(&self) -> Vec<(String, String)> {
        let declared = &self.shared.declared;
        let snapshot = self.snapshot();
        let mut unknown: Vec<(String, String)> = snapshot
            .iter_unordered()
            .filter(|(group, _, _)| self.shared.groups.iter().any(|info| info.group == *group))
            .filter(|(group, option, _)| declared.get(group, option).is_none())
            .map(|(group, option, _)| (group.to_owned(), option.to_owned()))
            .collect();
        unknown.sort_unstable();
        unknown
    }

    /// Logs the [`Config::unknown_options`]: one warning a group, with their count and
    /// names (`[DEFAULT]`, which services share with their libraries, may hold hundreds).
    pub fn warn_unknown_options(&self) {
        let mut by_group: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (group, option) in self.unknown_options() {
            by_group.entry(group).or_default().push(option);
        }
        for (group, options) in by_group {
            tracing::warn!(
                %group,
                count = options.len(),
                options = %options.join(","),
                "unknown options"
            );
        }
    }

    /// What `#[oslo::main]` does once logging is set up: warns of unknown options and,
    /// when `log_options` is true, logs every option's value.
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
