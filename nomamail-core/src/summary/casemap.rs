//! RFC 5051's i;unicode-casemap, the collation SORT (RFC 5256, RFC 5957) compares strings
//! with: each character title-cased (upper case here: std has no title-case mapping, and they
//! differ only for a handful of digraphs), then compatibility-decomposed (NFKD), compared as
//! octets. So "Änne" sorts between "Amy" and "Bob", as Dovecot has it.

use icu_normalizer::DecomposingNormalizerBorrowed;

pub fn casemap(text: &str) -> String {
    let upper: String = text.chars().flat_map(char::to_uppercase).collect();
    DecomposingNormalizerBorrowed::new_nfkd()
        .normalize(&upper)
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::casemap;

    #[test]
    fn accents_decompose_after_their_letter_and_case_goes() {
        let mut names = vec!["bob", "Änne", "amy", "Zoë", "zoe"];
        names.sort_by_key(|n| casemap(n));
        assert_eq!(names, ["amy", "Änne", "bob", "zoe", "Zoë"]);
        assert_eq!(
            casemap("ﬁle"),
            casemap("FILE"),
            "compatibility forms fold too"
        );
    }
}
