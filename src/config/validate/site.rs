//! `[site]`: the name on every series and the zone production days run in.
use std::sync::Arc;

use super::{check_name, Issues};
use crate::config::raw::SiteConfig;
use crate::config::settings::Site;

pub(super) fn validate(s: &SiteConfig, issues: &mut Issues) -> Option<Site> {
    check_name(issues, "site.name", &s.name);
    match jiff::tz::db().get(&s.timezone) {
        Ok(tz) => Some(Site {
            name: Arc::from(s.name.as_str()),
            timezone_name: s.timezone.clone(),
            timezone: tz,
        }),
        Err(_) => {
            issues.add(
                "site.timezone",
                format!(
                    "unknown time zone {:?} (use an IANA name such as \"America/Lima\")",
                    s.timezone
                ),
            );
            None
        }
    }
}
