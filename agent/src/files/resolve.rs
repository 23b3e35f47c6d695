//! From a path a client asks for to a file on the host, confined to the attached
//! sandboxes.
//!
//! As in Mesos, directories are attached under names (the virtual
//! `/frameworks/<fw>/executors/<ex>/runs/latest`, the sandbox's own host path …) and a
//! request resolves through the longest attached prefix. Unlike Mesos, which answers a
//! path that canonicalizes outside its sandbox with 400 and an unattached one with 404,
//! every escape is refused with 403: `..`, absolute host paths outside the sandboxes,
//! and symbolic links that lead out.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Component, Path, PathBuf};

/// Why a path is not served.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing there (404).
    NotFound(String),
    /// Outside the sandboxes (403).
    Forbidden(String),
    /// Could not be looked at (500).
    Failed(String),
}

/// Attached directories by the name they are reached under (no trailing slash).
#[derive(Debug, Default, Clone)]
pub struct Attached {
    paths: BTreeMap<String, PathBuf>,
    /// The names each directory is attached under: detaching a sandbox (one per
    /// executor end once the completed ones are at their bound) looks up its names
    /// instead of comparing every attached path with it.
    names: HashMap<PathBuf, Vec<String>>,
}

impl Attached {
    pub fn attach(&mut self, name: impl Into<String>, directory: impl Into<PathBuf>) {
        let (name, directory) = (name.into(), directory.into());
        match self.paths.insert(name.clone(), directory.clone()) {
            Some(previous) if previous == directory => return,
            // A name that moves (`…/runs/latest` to the next run) leaves its old one.
            Some(previous) => self.unlist(&previous, &name),
            None => {}
        }
        self.names.entry(directory).or_default().push(name);
    }

    pub fn detach(&mut self, name: &str) {
        if let Some(directory) = self.paths.remove(name) {
            self.unlist(&directory, name);
        }
    }

    /// Detaches every name of `directory`.
    pub fn detach_directory(&mut self, directory: &Path) {
        for name in self.names.remove(directory).unwrap_or_default() {
            self.paths.remove(&name);
        }
    }

    fn unlist(&mut self, directory: &Path, name: &str) {
        if let Some(names) = self.names.get_mut(directory) {
            names.retain(|n| n != name);
            if names.is_empty() {
                self.names.remove(directory);
            }
        }
    }

    /// The attached directory of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Path> {
        self.paths.get(name).map(PathBuf::as_path)
    }

    /// The host path of `requested` (a virtual or host path), canonical and inside the
    /// sandbox it was reached through.
    ///
    /// `work_dir` decides between 404 and 403 for a path no sandbox is attached at: one
    /// that looks like a sandbox (virtual, or under the work dir) is not found; anything
    /// else on the host is not ours to show.
    pub fn resolve(&self, requested: &str, work_dir: &Path) -> Result<PathBuf, Refusal> {
        let components = split(requested)?;
        // The longest attached prefix wins.
        for len in (1..=components.len()).rev() {
            let prefix = format!("/{}", components[..len].join("/"));
            let Some(root) = self.paths.get(&prefix) else {
                continue;
            };
            let rest = &components[len..];
            return confine(root, rest, requested);
        }
        let joined = format!("/{}", components.join("/"));
        let looks_like_sandbox = components.first() == Some(&"frameworks")
            || Path::new(&joined).starts_with(work_dir)
            || std::fs::canonicalize(work_dir).is_ok_and(|wd| Path::new(&joined).starts_with(wd));
        if looks_like_sandbox {
            Err(Refusal::NotFound(format!(
                "'{requested}' is not in any sandbox this agent has"
            )))
        } else {
            Err(Refusal::Forbidden(format!(
                "'{requested}' is outside the sandboxes this agent serves"
            )))
        }
    }
}

/// The path's components; `.` and empty ones dropped, `..` refused.
fn split(requested: &str) -> Result<Vec<&str>, Refusal> {
    let mut components = Vec::new();
    for component in requested.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                return Err(Refusal::Forbidden(format!(
                    "'{requested}': '..' is not allowed in a path"
                )));
            }
            c if c.contains('\0') => {
                return Err(Refusal::Forbidden(format!(
                    "'{requested}': NUL is not allowed in a path"
                )));
            }
            c => components.push(c),
        }
    }
    Ok(components)
}

/// `root/rest…`, canonicalized, as long as it stays under the canonical `root`.
fn confine(root: &Path, rest: &[&str], requested: &str) -> Result<PathBuf, Refusal> {
    let canonical_root = canonicalize(root, requested)?;
    let mut path = canonical_root.clone();
    for component in rest {
        path.push(component);
    }
    let resolved = canonicalize(&path, requested)?;
    // Component-wise: `/a/sandbox2` does not start with `/a/sandbox`.
    if !resolved.starts_with(&canonical_root)
        || resolved
            .components()
            .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(Refusal::Forbidden(format!(
            "'{requested}' leads out of its sandbox"
        )));
    }
    Ok(resolved)
}

fn canonicalize(path: &Path, requested: &str) -> Result<PathBuf, Refusal> {
    std::fs::canonicalize(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            Refusal::NotFound(format!("'{requested}' does not exist"))
        }
        io::ErrorKind::PermissionDenied => {
            Refusal::Forbidden(format!("'{requested}': permission denied"))
        }
        _ => Refusal::Failed(format!("'{requested}': {e}")),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// A work dir with one sandbox attached as Mesos's agent attaches it, and a secret
    /// file beside it.
    fn fixture() -> (tempfile::TempDir, PathBuf, Attached) {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir
            .path()
            .join("work/slaves/S0/frameworks/F/executors/E/runs");
        let sandbox = runs.join("C1");
        fs::create_dir_all(sandbox.join("sub")).unwrap();
        fs::write(sandbox.join("stdout"), "hello\n").unwrap();
        fs::write(sandbox.join("sub/inner"), "inner").unwrap();
        fs::write(dir.path().join("secret"), "secret").unwrap();
        symlink("C1", runs.join("latest")).unwrap();
        let mut attached = Attached::default();
        attached.attach("/frameworks/F/executors/E/runs/latest", &sandbox);
        attached.attach("/frameworks/F/executors/E/runs/C1", &sandbox);
        attached.attach(sandbox.display().to_string(), &sandbox);
        (dir, sandbox, attached)
    }

    fn work(dir: &tempfile::TempDir) -> PathBuf {
        dir.path().join("work")
    }

    #[test]
    fn virtual_and_host_paths_reach_the_sandbox() {
        let (dir, sandbox, attached) = fixture();
        let canonical = fs::canonicalize(&sandbox).unwrap();
        for path in [
            "/frameworks/F/executors/E/runs/latest",
            "/frameworks/F/executors/E/runs/latest/",
            "frameworks/F/executors/E/runs/C1",
            "/frameworks/F/executors/E/runs/./latest",
            &sandbox.display().to_string(),
        ] {
            assert_eq!(
                attached.resolve(path, &work(&dir)).unwrap(),
                canonical,
                "{path}"
            );
        }
        assert_eq!(
            attached
                .resolve(
                    "/frameworks/F/executors/E/runs/latest/sub/inner",
                    &work(&dir)
                )
                .unwrap(),
            canonical.join("sub/inner")
        );
        assert_eq!(
            attached
                .resolve(&format!("{}/stdout", sandbox.display()), &work(&dir))
                .unwrap(),
            canonical.join("stdout")
        );
    }

    #[test]
    fn missing_files_and_unknown_sandboxes_are_not_found() {
        let (dir, sandbox, attached) = fixture();
        for path in [
            "/frameworks/F/executors/E/runs/latest/nope".to_string(),
            "/frameworks/F/executors/E/runs/latest/stdout/below".to_string(),
            "/frameworks/G/executors/E/runs/latest".to_string(),
            format!(
                "{}/slaves/S0/frameworks/F/executors/E/runs/C9",
                work(&dir).display()
            ),
            format!("{}/nope", sandbox.display()),
        ] {
            assert!(
                matches!(
                    attached.resolve(&path, &work(&dir)),
                    Err(Refusal::NotFound(_))
                ),
                "{path}: {:?}",
                attached.resolve(&path, &work(&dir))
            );
        }
    }

    #[test]
    fn parent_components_are_forbidden() {
        let (dir, sandbox, attached) = fixture();
        for path in [
            "../../etc/passwd".to_string(),
            "/frameworks/F/executors/E/runs/latest/../../../../etc/passwd".to_string(),
            "/frameworks/F/executors/E/runs/latest/sub/..".to_string(),
            format!("{}/../C1/stdout", sandbox.display()),
        ] {
            assert!(
                matches!(
                    attached.resolve(&path, &work(&dir)),
                    Err(Refusal::Forbidden(_))
                ),
                "{path}"
            );
        }
    }

    #[test]
    fn host_paths_outside_the_sandboxes_are_forbidden() {
        let (dir, _sandbox, attached) = fixture();
        for path in [
            "/etc/passwd",
            "/",
            "/etc",
            &dir.path().join("secret").display().to_string(),
        ] {
            assert!(
                matches!(
                    attached.resolve(path, &work(&dir)),
                    Err(Refusal::Forbidden(_))
                ),
                "{path}"
            );
        }
    }

    #[test]
    fn symlinks_out_of_the_sandbox_are_forbidden() {
        let (dir, sandbox, attached) = fixture();
        symlink(dir.path().join("secret"), sandbox.join("to-secret")).unwrap();
        symlink("/etc", sandbox.join("to-etc")).unwrap();
        symlink("../C1-sibling", sandbox.join("to-sibling")).unwrap();
        fs::create_dir_all(sandbox.parent().unwrap().join("C1-sibling")).unwrap();
        for path in [
            "/frameworks/F/executors/E/runs/latest/to-secret",
            "/frameworks/F/executors/E/runs/latest/to-etc",
            "/frameworks/F/executors/E/runs/latest/to-etc/passwd",
            "/frameworks/F/executors/E/runs/latest/to-sibling",
        ] {
            assert!(
                matches!(
                    attached.resolve(path, &work(&dir)),
                    Err(Refusal::Forbidden(_))
                ),
                "{path}: {:?}",
                attached.resolve(path, &work(&dir))
            );
        }
        // A link that stays inside is followed.
        symlink("sub/inner", sandbox.join("to-inner")).unwrap();
        assert_eq!(
            attached
                .resolve(
                    "/frameworks/F/executors/E/runs/latest/to-inner",
                    &work(&dir)
                )
                .unwrap(),
            fs::canonicalize(sandbox.join("sub/inner")).unwrap()
        );
    }

    #[test]
    fn a_name_moved_to_a_later_run_outlives_the_earlier_runs_detach() {
        let (run1, run2) = (Path::new("/w/runs/c1"), Path::new("/w/runs/c2"));
        let mut attached = Attached::default();
        for (name, dir) in [("/v/latest", run1), ("/v/c1", run1), ("/w/runs/c1", run1)] {
            attached.attach(name, dir);
        }
        // The next run takes `latest` over and adds its own names.
        attached.attach("/v/latest", run2);
        attached.attach("/v/c2", run2);
        // Attaching a name again to the same directory changes nothing.
        attached.attach("/v/c2", run2);
        attached.detach_directory(run1);
        assert_eq!(attached.get("/v/latest"), Some(run2));
        assert_eq!(attached.get("/v/c2"), Some(run2));
        assert_eq!(attached.get("/v/c1"), None);
        assert_eq!(attached.get("/w/runs/c1"), None);
        // A name detached alone, then attached elsewhere, is not taken by its old
        // directory's detach.
        attached.detach("/v/c2");
        attached.attach("/v/c2", run1);
        attached.detach_directory(run2);
        assert_eq!(attached.get("/v/c2"), Some(run1));
        assert_eq!(attached.get("/v/latest"), None);
        attached.detach_directory(run1);
        assert!(attached.paths.is_empty() && attached.names.is_empty());
    }

    #[test]
    fn detached_sandboxes_are_gone() {
        let (dir, sandbox, mut attached) = fixture();
        attached.detach_directory(&sandbox);
        assert!(matches!(
            attached.resolve("/frameworks/F/executors/E/runs/latest", &work(&dir)),
            Err(Refusal::NotFound(_))
        ));
    }
}
