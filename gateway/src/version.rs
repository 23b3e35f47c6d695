//! `/version`, on the master and on the agent: what Mesos's endpoint of that name
//! answers. `version` is the Mesos release whose v1 API we implement (clients parse it
//! as numbers and switch features on it); `ratufa_version` is our own.

use axum::Json;
use serde_json::{Value, json};

/// The version clients see in MasterInfo, `/version`, `/master/state` and an agent's
/// version: the Apache Mesos release whose v1 API ratufa implements. Clients parse it
/// and switch features on it (pymesos asks for GPU resources and reads inverse offers
/// the 1.x way only from "1.0.0" up), so it must read as a Mesos 1.x version, not as
/// ratufa's own.
pub const MESOS_VERSION: &str = "1.11.0";

/// ratufa's own version, reported beside [`MESOS_VERSION`] as `ratufa_version`.
pub const RATUFA_VERSION: &str = env!("CARGO_PKG_VERSION");

const BUILD_TIME: &str = env!("RATUFA_BUILD_TIME");
const BUILD_USER: &str = env!("RATUFA_BUILD_USER");

/// The `/version` handler.
pub async fn version() -> Json<Value> {
    Json(version_json())
}

fn version_json() -> Value {
    let info = version_info();
    json!({
        "version": info.version,
        "ratufa_version": RATUFA_VERSION,
        "build_date": info.build_date,
        "build_time": info.build_time,
        "build_user": info.build_user,
    })
}

/// What `/version` shows, as the operator APIs' GET_VERSION carry it.
pub fn version_info() -> ratufa_proto::v1::VersionInfo {
    let build_time: u64 = BUILD_TIME.parse().unwrap_or(0);
    ratufa_proto::v1::VersionInfo {
        version: MESOS_VERSION.to_string(),
        build_date: Some(format_utc(build_time)),
        build_time: Some(build_time as f64),
        build_user: Some(BUILD_USER.to_string()),
        ..Default::default()
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, from seconds since the epoch.
fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20");
    }

    #[test]
    fn version_is_numeric_dotted() {
        let value = version_json();
        let version = value["version"].as_str().unwrap();
        assert!(version.split('.').all(|p| p.parse::<u32>().is_ok()));
        assert!(value["build_date"].is_string());
        assert!(value["build_user"].is_string());
    }
}
