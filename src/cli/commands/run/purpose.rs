//! The purpose `run` states when none is given: the CI job it runs in, as a link a reviewer can
//! open from the lease's audit entries. Only environments we recognise are used; anything else
//! gives no purpose, so a role that requires one refuses rather than recording a guess.

/// The CI job's URL from `get` (an environment lookup), if a known CI system set one.
pub fn from_ci(get: impl Fn(&str) -> Option<String>) -> Option<String> {
    let var = |name: &str| {
        get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    // GitHub Actions has no single variable for the run's page; it is assembled from three.
    if let (Some(server), Some(repo), Some(run)) = (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        return Some(format!(
            "{}/{repo}/actions/runs/{run}",
            server.trim_end_matches('/')
        ));
    }
    [
        "CI_JOB_URL",          // GitLab
        "BUILD_URL",           // Jenkins
        "BUILDKITE_BUILD_URL", // Buildkite
        "CIRCLE_BUILD_URL",    // CircleCI
    ]
    .iter()
    .find_map(|name| var(name))
}

/// The variables [`from_ci`] looks at, for the message when a purpose is required and none is
/// found.
pub const KNOWN: &str = "GITHUB_SERVER_URL+GITHUB_REPOSITORY+GITHUB_RUN_ID, CI_JOB_URL, BUILD_URL, BUILDKITE_BUILD_URL, CIRCLE_BUILD_URL";

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn each_ci_system() {
        assert_eq!(
            from_ci(env(&[
                ("GITHUB_SERVER_URL", "https://github.com/"),
                ("GITHUB_REPOSITORY", "acme/shop"),
                ("GITHUB_RUN_ID", "42"),
            ])),
            Some("https://github.com/acme/shop/actions/runs/42".into())
        );
        for var in [
            "CI_JOB_URL",
            "BUILD_URL",
            "BUILDKITE_BUILD_URL",
            "CIRCLE_BUILD_URL",
        ] {
            assert_eq!(
                from_ci(env(&[(var, "https://ci/job/7")])),
                Some("https://ci/job/7".into()),
                "{var}"
            );
        }
    }

    #[test]
    fn nothing_recognised_is_no_purpose() {
        assert_eq!(from_ci(env(&[])), None);
        // Half of GitHub's triple, or an empty value, is not a purpose.
        assert_eq!(from_ci(env(&[("GITHUB_RUN_ID", "42")])), None);
        assert_eq!(from_ci(env(&[("BUILD_URL", "  ")])), None);
    }
}
