//! The vocabularies of feed XML: which namespace an element is in, and which elements are a
//! feed's entries. Both passes over a feed's text beside feed-rs (`media`, `extra`) read them
//! here, so that they find the same entries as each other, in the same order.

use quick_xml::name::ResolveResult;

/// Namespaces without their scheme: feeds declare them with `https` too, and readers accept it.
const MRSS: &str = "search.yahoo.com/mrss";
const ITUNES: &str = "www.itunes.com/dtds/podcast-1.0.dtd";
const FEEDBURNER: &str = "rssnamespace.org/feedburner/ext/1.0";
const ATOM: [&str; 2] = ["www.w3.org/2005/Atom", "purl.org/atom/ns#"];
const DCTERMS: &str = "purl.org/dc/terms";
const DC: &str = "purl.org/dc/elements/1.1";
const XHTML: &str = "www.w3.org/1999/xhtml";
const RSS10: &str = "purl.org/rss/1.0";

/// Which vocabulary an element is in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Ns {
    /// No namespace (RSS 2.0, and Atom as some write it) or RSS 1.0's.
    Plain,
    /// Atom 1.0 or 0.3.
    Atom,
    MediaRss,
    ITunes,
    FeedBurner,
    /// Dublin Core's terms (`dcterms:issued`).
    DcTerms,
    /// Dublin Core's elements (`dc:creator`).
    Dc,
    Xhtml,
    Other,
}

impl Ns {
    /// The vocabulary of an element whose namespace resolved to `resolved`.
    pub(super) fn of(resolved: &ResolveResult) -> Ns {
        let ResolveResult::Bound(ns) = resolved else {
            return Ns::Plain;
        };
        let uri = ns.as_ref().trim_end_matches('/');
        let bare = uri
            .strip_prefix("http://")
            .or_else(|| uri.strip_prefix("https://"))
            .unwrap_or(uri);
        match bare {
            MRSS => Ns::MediaRss,
            _ if bare.eq_ignore_ascii_case(ITUNES) => Ns::ITunes,
            _ if ATOM.contains(&bare) => Ns::Atom,
            FEEDBURNER => Ns::FeedBurner,
            DCTERMS => Ns::DcTerms,
            DC => Ns::Dc,
            XHTML => Ns::Xhtml,
            RSS10 => Ns::Plain,
            _ => Ns::Other,
        }
    }

    /// Whether the element `local` of this vocabulary is an entry of the feed (an RSS item,
    /// an Atom entry), when it is met outside any other entry.
    pub(super) fn is_entry(self, local: &str) -> bool {
        match self {
            Ns::Plain => local == "item" || local == "entry",
            Ns::Atom => local == "entry",
            _ => false,
        }
    }
}
