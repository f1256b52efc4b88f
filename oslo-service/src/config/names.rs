//! How oslo.config compares names: groups in lower case (but `DEFAULT`), options with
//! dashes or underscores alike.

use super::DEFAULT_GROUP;

/// oslo.config keeps `DEFAULT` as it is and compares other group names in lower case.
pub(super) fn normalize_group(group: &str) -> String {
    if group == DEFAULT_GROUP {
        group.to_owned()
    } else {
        group.to_lowercase()
    }
}

/// Option names may be written with dashes or underscores.
pub(super) fn normalize_option(option: &str) -> String {
    option.replace('-', "_")
}
