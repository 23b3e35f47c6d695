//! The `system/*` metrics every Mesos daemon's `/metrics/snapshot` carries (from
//! libprocess): the host's CPU count, load averages and memory. Dashboards graph them
//! beside the daemon's own metrics. Read from `/proc` and `/sys` when asked; a value
//! that cannot be read is left out rather than reported as zero.

use std::path::Path;

/// `system/cpus_total`, `system/load_1min`, `system/load_5min`, `system/load_15min`,
/// `system/mem_total_bytes` and `system/mem_free_bytes`, those that can be read.
pub fn system_metrics() -> Vec<(String, f64)> {
    let mut out = Vec::new();
    if let Some(cpus) = online_cpus(Path::new("/sys/devices/system/cpu/online")) {
        out.push(("system/cpus_total".to_string(), cpus as f64));
    }
    if let Some(loads) = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| load_averages(&text))
    {
        for (name, load) in ["load_1min", "load_5min", "load_15min"].iter().zip(loads) {
            out.push((format!("system/{name}"), load));
        }
    }
    if let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") {
        // Free as the kernel counts it (`MemFree`), as libprocess reports it.
        for (field, name) in [
            ("MemTotal", "system/mem_total_bytes"),
            ("MemFree", "system/mem_free_bytes"),
        ] {
            if let Some(bytes) = meminfo_bytes(&meminfo, field) {
                out.push((name.to_string(), bytes as f64));
            }
        }
    }
    out
}

/// The CPUs online, from the kernel's list of ranges (`0-3,8-11`).
fn online_cpus(path: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(path).ok()?;
    cpu_list_len(text.trim())
}

fn cpu_list_len(list: &str) -> Option<usize> {
    let mut count = 0;
    for part in list.split(',') {
        count += match part.split_once('-') {
            Some((first, last)) => {
                let (first, last): (usize, usize) = (first.parse().ok()?, last.parse().ok()?);
                last.checked_sub(first)? + 1
            }
            None => {
                part.parse::<usize>().ok()?;
                1
            }
        };
    }
    Some(count)
}

/// The three load averages of `/proc/loadavg`.
fn load_averages(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([
        fields.next()?.ok()?,
        fields.next()?.ok()?,
        fields.next()?.ok()?,
    ])
}

/// A `/proc/meminfo` field (`MemTotal:  16318416 kB`) in bytes.
fn meminfo_bytes(meminfo: &str, field: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find(|line| line.split(':').next() == Some(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_formats_are_read() {
        assert_eq!(cpu_list_len("0-3,8-11"), Some(8));
        assert_eq!(cpu_list_len("0"), Some(1));
        assert_eq!(cpu_list_len("3-1"), None);
        assert_eq!(
            load_averages("0.52 1.25 2.00 3/812 12345\n"),
            Some([0.52, 1.25, 2.0])
        );
        assert_eq!(load_averages("0.5"), None);
        let meminfo = "MemTotal:       16318416 kB\nMemFree:         1024 kB\n";
        assert_eq!(meminfo_bytes(meminfo, "MemFree"), Some(1024 * 1024));
        assert_eq!(meminfo_bytes(meminfo, "MemAvailable"), None);
    }

    #[test]
    fn this_host_reports_all_six() {
        let names: Vec<String> = system_metrics().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 6, "{names:?}");
    }
}
