//! Results recorded together: the store writes the results that wait for it in one
//! transaction, and each stays all or nothing and only its own. Through the library's `Store`,
//! on a current-thread runtime, so that the results are all waiting when the store's writer
//! first runs, and are written as one group.

use feedmerge::{identify, parse_feed, Attempt, Database, Next, Source, Store, Validators};
use url::Url;

use crate::common::{fixture, ConfigBuilder, Engine};

crate::on_both_engines!(a_failing_result_leaves_the_others_of_its_group_recorded);

fn source(name: &str) -> Source {
    Source {
        name: name.to_owned(),
        url: Url::parse(&format!("https://{}.example/feed", name.replace(" ", "-"))).unwrap(),
        categories: Vec::new(),
        schedule: None,
        enabled: true,
        respect_feed_hints: true,
        allow_private: false,
        full_text: None,
        http: Default::default(),
        listing: None,
    }
}

/// A 200 with the articles of `body`.
fn fetched(body: &[u8]) -> Attempt {
    let url = Url::parse("https://outlet.example/feed").unwrap();
    let feed = parse_feed(body, None, &url).expect("a feed");
    Attempt::Fetched {
        status: 200,
        validators: Validators::default(),
        title: feed.title.clone(),
        site_url: None,
        articles: identify(feed.articles, None),
        discarded: Vec::new(),
        min_interval: None,
        warning: None,
    }
}

/// Global Times' feed, then a result for a source the store does not know (it fails after the
/// first result's rows are written), then a reprint of Global Times' three stories under links
/// of its own: the failing result is its own error; the others are recorded once, and the
/// reprints join the stories Global Times started by their text, as the story index must know
/// after the group was written again without the failing result.
async fn a_failing_result_leaves_the_others_of_its_group_recorded(engine: Engine) {
    let Some(setup) = ConfigBuilder::new().on(engine).await else {
        return;
    };
    let database = match &setup.postgres {
        Some(url) => Database::Postgres(url.clone()),
        None => Database::Sqlite(setup.database()),
    };
    let store = Store::open(&database, Default::default()).await.unwrap();
    store
        .sync_sources(&[source("Global Times"), source("Reprints")])
        .await
        .unwrap();
    let original = fixture("globaltimes.rss");
    let reprint = String::from_utf8(original.clone())
        .unwrap()
        .replace("www.globaltimes.cn", "reprint.example");
    let (first, unknown, rerun) = tokio::join!(
        store.record("Global Times", fetched(&original), Next::default()),
        store.record("Nobody", fetched(&original), Next::default()),
        store.record("Reprints", fetched(reprint.as_bytes()), Next::default()),
    );
    let first = first.expect("Global Times recorded");
    let rerun = rerun.expect("the reprints recorded");
    let unknown = unknown.expect_err("an unknown source is not recorded");
    assert!(!unknown.is_unwritable(), "{unknown}");
    assert_eq!((first.new, first.merged), (3, 0));
    assert_eq!(
        (rerun.new, rerun.merged),
        (0, 3),
        "the reprints join the stories"
    );
    store.close().await;
    let db = setup.any_db().await;
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("SELECT COUNT(*) FROM articles").await, 6);
    assert_eq!(count("SELECT COUNT(*) FROM appearances").await, 6);
    assert_eq!(count("SELECT COUNT(*) FROM stories").await, 3);
    assert_eq!(
        count("SELECT COUNT(*) FROM sources WHERE last_status = 200").await,
        2
    );
}
