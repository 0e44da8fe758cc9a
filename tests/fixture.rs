//! The code generated from the second, unrelated document (`tests/fixtures/bookshelf.yaml`),
//! compiled and driven end to end: its generated client against its generated router over a real
//! loopback socket, with an in-memory bookshelf implementing the generated `Api` trait.
//!
//! It proves the generators read everything from the document, nothing from the ROMA one: other
//! paths and methods, a parameter default, query, header and path constraints, another error
//! body (`code`/`message`/`trace`, header `X-Trace-Id`), another API-key header, a JSON body with
//! `additionalProperties: false` and a nullable exclusive minimum, a multipart upload with a text
//! part, and a binary download.

// Included at the crate root, as siblings: client and server refer to `super::contract`.
// `dead_code` is allowed because the generated API is larger than what these tests call (e.g.
// `types::CoverUpload`, `OPERATIONS`, `codes::ALL`); in the library the same items are public.
#[allow(dead_code)]
mod contract {
    include!(concat!(env!("OUT_DIR"), "/fixture/contract.rs"));
}
#[allow(dead_code)]
mod client {
    include!(concat!(env!("OUT_DIR"), "/fixture/client.rs"));
}
#[allow(dead_code)]
mod server {
    include!(concat!(env!("OUT_DIR"), "/fixture/server.rs"));
}
mod support;

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use serde_json::json;

use client::{Client, Error, ResponseValue, UploadFile, types};
use contract::codes;
use server::{
    AddBookParams, AddBookReply, ApiError, Credential, GetCoverParams, GetCoverReply,
    ListBooksParams, ListBooksReply, RequestContext, UploadCoverForm, UploadCoverParams,
    UploadCoverReply,
};
use support::{expect_error, http_client, serve};

const KEY: &str = "fixture-key";
/// The fixture's AK/SK pair (AddBook may be signed).
const ACCESS_KEY: &str = "SHELFAK";
const SECRET_KEY: &str = "shelf-secret";

/// The API key, or a request the generated layer verified as signed by the fixture's key.
fn valid(credential: &Credential) -> bool {
    match credential {
        Credential::Key(key) => key == KEY,
        Credential::Signed { access_key } => access_key == ACCESS_KEY,
    }
}

impl server::SigningKeys for Bookshelf {
    fn secret_key(&self, access_key: &str) -> Option<String> {
        (access_key == ACCESS_KEY).then(|| SECRET_KEY.to_string())
    }
}

/// The fixture's error body: code field, request-id field, request-id header.
const SHELF: (&str, &str, &str) = ("code", "trace", "x-trace-id");

/// An uploaded cover as the handler received it.
#[derive(Debug, Clone, PartialEq)]
struct Cover {
    caption: Option<String>,
    file_name: Option<String>,
    bytes: Vec<u8>,
}

/// The bookshelf's state, and what the handlers were handed (to prove what reached them).
#[derive(Default)]
struct Shelves {
    books: BTreeMap<String, Vec<types::Book>>,
    covers: BTreeMap<(String, i64), Cover>,
    next_id: i64,
    listed: Vec<ListBooksParams>,
    added: Vec<types::NewBook>,
}

#[derive(Clone, Default)]
struct Bookshelf(Arc<Mutex<Shelves>>);

impl Bookshelf {
    fn state(&self) -> std::sync::MutexGuard<'_, Shelves> {
        self.0.lock().expect("bookshelf lock")
    }
}

impl server::Api for Bookshelf {
    async fn list_books(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: ListBooksParams,
    ) -> ListBooksReply {
        let mut state = self.state();
        state.listed.push(params.clone());
        if !valid(&credential) {
            return ApiError::new(codes::SHELF_401, "unknown key").into();
        }
        let Some(books) = state.books.get(params.shelf_id.as_str()) else {
            return ApiError::new(codes::SHELF_404, "no such shelf").into();
        };
        let books = books
            .iter()
            .filter(|b| params.genre.is_none() || b.genre == params.genre)
            .take(usize::try_from(params.limit).expect("the layer checked 1..=50"))
            .cloned()
            .collect();
        ListBooksReply::Ok(types::BookList { books })
    }

    async fn add_book(
        &self,
        _ctx: RequestContext,
        credential: Credential,
        params: AddBookParams,
        body: types::NewBook,
    ) -> AddBookReply {
        if !valid(&credential) {
            return ApiError::new(codes::SHELF_401, "unknown key").into();
        }
        let mut state = self.state();
        state.added.push(body.clone());
        state.next_id += 1;
        let id = state.next_id;
        let shelf = state.books.entry(params.shelf_id.to_string()).or_default();
        if shelf.iter().any(|b| b.title == body.title.as_str()) {
            return ApiError::new(codes::SHELF_409, "this title is already on the shelf").into();
        }
        let book = types::Book {
            id,
            title: body.title.to_string(),
            pages: i64::try_from(body.pages.get()).expect("the layer checked 1..=10000"),
            genre: body.genre,
        };
        shelf.push(book.clone());
        AddBookReply::Created(book)
    }

    async fn get_cover(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        params: GetCoverParams,
    ) -> GetCoverReply {
        let key = (params.shelf_id.to_string(), params.book_id);
        match self.state().covers.get(&key) {
            Some(cover) => GetCoverReply::Ok(axum::body::Body::from(cover.bytes.clone())),
            None => ApiError::new(codes::SHELF_404, "no cover for this book").into(),
        }
    }

    async fn upload_cover(
        &self,
        _ctx: RequestContext,
        _credential: Credential,
        params: UploadCoverParams,
        mut body: UploadCoverForm,
    ) -> UploadCoverReply {
        let known = self
            .state()
            .books
            .get(params.shelf_id.as_str())
            .is_some_and(|books| books.iter().any(|b| b.id == params.book_id));
        if !known {
            return ApiError::new(codes::SHELF_404, "no such book").into();
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = body.image.next().await {
            match chunk {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(e) => return ApiError::from(e).into(),
            }
        }
        let cover = Cover {
            caption: body.caption,
            file_name: body.image.file_name.clone(),
            bytes,
        };
        self.state()
            .covers
            .insert((params.shelf_id.to_string(), params.book_id), cover);
        UploadCoverReply::NoContent
    }
}

async fn start() -> (String, Client, Bookshelf) {
    let shelf = Bookshelf::default();
    let base = serve(server::router(shelf.clone())).await;
    let client = Client::new_with_client(
        &base,
        http_client(Some(("x-api-key", KEY))),
        Default::default(),
    );
    (base, client, shelf)
}

fn shelf_id(s: &str) -> types::ShelfId {
    s.parse().expect("a valid shelf id")
}

fn new_book(title: &str, genre: Option<types::Genre>) -> types::NewBook {
    types::NewBook {
        title: title.parse().expect("a valid title"),
        pages: NonZeroU64::new(120).expect("non-zero"),
        price: None,
        genre,
        tags: vec![],
        subtitle: None,
        notes: vec![],
    }
}

/// The typed error of a generated client call: its status and parsed body, after checking that
/// the body's `trace` is the `X-Trace-Id` header (the fixture's `x-error-body` mapping).
fn typed_error<T>(
    result: Result<ResponseValue<T>, Error<types::Problem>>,
) -> (u16, types::Problem) {
    let answer = match result {
        Err(Error::ErrorResponse(answer)) => answer,
        Err(other) => panic!("expected a typed error answer, got {other:?}"),
        Ok(value) => panic!("expected an error, got {}", value.status()),
    };
    let status = answer.status().as_u16();
    let header = answer.headers()["x-trace-id"]
        .to_str()
        .expect("ASCII header")
        .to_string();
    let body = answer.into_inner();
    assert_eq!(body.trace, header, "trace in body and header differ");
    assert_eq!(header.len(), 32, "a request id, not a placeholder");
    (status, body)
}

#[tokio::test]
async fn list_books_applies_the_documented_default_limit_and_typed_filters() {
    let (_, client, shelf) = start().await;
    let novels = shelf_id("novels");
    for i in 0..12 {
        let genre = if i % 3 == 0 {
            types::Genre::Poetry
        } else {
            types::Genre::Fiction
        };
        client
            .add_book(&novels, &new_book(&format!("book {i}"), Some(genre)))
            .await
            .expect("adding a book");
    }

    let listed = client
        .list_books(&novels, None, None, None)
        .await
        .expect("listing");
    assert_eq!(listed.status(), 200);
    assert!(listed.headers().contains_key("x-trace-id"));
    assert_eq!(
        listed.into_inner().books.len(),
        10,
        "the document's default limit"
    );
    assert_eq!(shelf.state().listed[0].limit, 10, "the handler sees 10");
    assert_eq!(shelf.state().listed[0].genre, None);

    let poetry = client
        .list_books(
            &novels,
            Some(types::Genre::Poetry),
            NonZeroU64::new(3),
            Some(2),
        )
        .await
        .expect("listing poetry")
        .into_inner();
    assert_eq!(poetry.books.len(), 3);
    assert!(
        poetry
            .books
            .iter()
            .all(|b| b.genre == Some(types::Genre::Poetry))
    );
    let seen = shelf.state().listed[1].clone();
    assert_eq!(
        (seen.limit, seen.genre, seen.x_trace_level),
        (3, Some(types::Genre::Poetry), Some(2))
    );
    assert_eq!(seen.shelf_id.as_str(), "novels");

    // The documented bounds themselves are allowed.
    for limit in [1, 50] {
        client
            .list_books(&novels, None, NonZeroU64::new(limit), Some(0))
            .await
            .expect("a limit at the documented bound");
    }
}

#[tokio::test]
async fn list_books_refuses_out_of_range_parameters_naming_them() {
    let (base, client, shelf) = start().await;
    client
        .add_book(&shelf_id("novels"), &new_book("Dune", None))
        .await
        .expect("adding a book");
    let http = http_client(Some(("x-api-key", KEY)));
    let url = format!("{base}/shelves/novels/books");

    let cases = [
        ("limit=0", "limit: less than 1"),
        ("limit=51", "limit: greater than 50"),
        ("genre=drama", "genre: not one of fiction, poetry, science"),
    ];
    for (query, message) in cases {
        let body = expect_error(http.get(format!("{url}?{query}")), 400, "SHELF-400", SHELF).await;
        assert_eq!(body["message"], message, "for {query}");
    }
    let body = expect_error(
        http.get(format!("{url}?limit=abc")),
        400,
        "SHELF-400",
        SHELF,
    )
    .await;
    let message = body["message"].as_str().expect("a message");
    assert!(
        message.starts_with("limit: not an integer"),
        "names the parameter: {message}"
    );
    let body = expect_error(
        http.get(&url).header("X-Trace-Level", "7"),
        400,
        "SHELF-400",
        SHELF,
    )
    .await;
    assert_eq!(body["message"], "X-Trace-Level: greater than 3");
    // The error body is exactly the document's Problem: no other field.
    let fields: Vec<&str> = body
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, ["code", "message", "trace"]);

    // Through the generated client: a typed 400 with the parsed Problem.
    let (status, problem) = typed_error(
        client
            .list_books(&shelf_id("novels"), None, NonZeroU64::new(51), None)
            .await,
    );
    assert_eq!((status, problem.code.as_str()), (400, "SHELF-400"));
    assert_eq!(problem.message.as_str(), "limit: greater than 50");
    let (status, problem) = typed_error(
        client
            .list_books(&shelf_id("novels"), None, None, Some(7))
            .await,
    );
    assert_eq!((status, problem.code.as_str()), (400, "SHELF-400"));
    assert_eq!(problem.message.as_str(), "X-Trace-Level: greater than 3");

    assert!(
        shelf.state().listed.is_empty(),
        "no refusal reached the handler"
    );
}

#[tokio::test]
async fn an_unknown_shelf_is_a_typed_404_whose_trace_is_the_trace_header() {
    let (_, client, shelf) = start().await;
    let (status, problem) = typed_error(
        client
            .list_books(&shelf_id("nowhere"), None, None, None)
            .await,
    );
    assert_eq!(status, 404);
    assert_eq!(problem.code.as_str(), "SHELF-404");
    assert_eq!(problem.message.as_str(), "no such shelf");
    assert_eq!(shelf.state().listed.len(), 1, "the handler answered it");
}

#[tokio::test]
async fn shelf_ids_must_match_the_documented_pattern_and_length() {
    let (base, _, shelf) = start().await;
    let http = http_client(Some(("x-api-key", KEY)));
    let long = "a".repeat(17);
    let cases = [
        ("Bad", "shelf_id: does not match ^[a-z][a-z0-9-]*$"),
        ("1abc", "shelf_id: does not match ^[a-z][a-z0-9-]*$"),
        ("ab_c", "shelf_id: does not match ^[a-z][a-z0-9-]*$"),
        ("ab", "shelf_id: shorter than 3 characters"),
        (long.as_str(), "shelf_id: longer than 16 characters"),
    ];
    for (id, message) in cases {
        let body = expect_error(
            http.get(format!("{base}/shelves/{id}/books")),
            400,
            "SHELF-400",
            SHELF,
        )
        .await;
        assert_eq!(body["message"], message, "for {id}");
        // The same constraint on the other operations of the path.
        expect_error(
            http.get(format!("{base}/shelves/{id}/books/1/cover")),
            400,
            "SHELF-400",
            SHELF,
        )
        .await;
        assert!(
            id.parse::<types::ShelfId>().is_err(),
            "the client's type refuses {id} too"
        );
    }
    assert!(shelf.state().listed.is_empty());

    // The bounds themselves reach the handler (which knows no such shelf).
    for id in ["abc", "a-0123456789abcd"] {
        expect_error(
            http.get(format!("{base}/shelves/{id}/books")),
            404,
            "SHELF-404",
            SHELF,
        )
        .await;
    }
    assert_eq!(shelf.state().listed.len(), 2);
    // book_id is an integer.
    let body = expect_error(
        http.get(format!("{base}/shelves/abc/books/one/cover")),
        400,
        "SHELF-400",
        SHELF,
    )
    .await;
    let message = body["message"].as_str().expect("a message");
    assert!(message.starts_with("book_id: not an integer"), "{message}");
}

#[tokio::test]
async fn add_book_answers_201_with_the_typed_book() {
    let (_, client, shelf) = start().await;
    let mut book = new_book("The Waste Land", Some(types::Genre::Poetry));
    book.price = Some(9.5);
    book.tags = vec!["modernism".parse().expect("a valid tag")];
    let added = client
        .add_book(&shelf_id("poems"), &book)
        .await
        .expect("adding");
    assert_eq!(added.status(), 201);
    assert!(added.headers().contains_key("x-trace-id"));
    let added = added.into_inner();
    assert_eq!(added.id, 1);
    assert_eq!(added.title, "The Waste Land");
    assert_eq!(added.pages, 120);
    assert_eq!(added.genre, Some(types::Genre::Poetry));
    let seen = shelf.state().added[0].clone();
    assert_eq!(seen.price, Some(9.5));
    assert_eq!(seen.tags[0].as_str(), "modernism");
}

#[tokio::test]
async fn add_book_enforces_every_constraint_of_new_book() {
    let (base, _, shelf) = start().await;
    let http = http_client(Some(("x-api-key", KEY)));
    let url = format!("{base}/shelves/novels/books");
    let tag = |n: usize| "t".repeat(n);

    let cases = [
        (json!({"pages": 10}), "title: is required"),
        (json!({"title": "t"}), "pages: is required"),
        (
            json!({"title": "x".repeat(101), "pages": 1}),
            "title: longer than 100 characters",
        ),
        (
            json!({"title": "", "pages": 1}),
            "title: shorter than 1 characters",
        ),
        (json!({"title": 7, "pages": 1}), "title: must be a string"),
        (json!({"title": "t", "pages": 0}), "pages: less than 1"),
        (
            json!({"title": "t", "pages": 10001}),
            "pages: greater than 10000",
        ),
        (
            json!({"title": "t", "pages": 1.5}),
            "pages: must be an integer",
        ),
        (
            json!({"title": "t", "pages": 1, "price": 0}),
            "price: less than or equal to 0",
        ),
        (
            json!({"title": "t", "pages": 1, "price": -3.5}),
            "price: less than or equal to 0",
        ),
        (
            json!({"title": "t", "pages": 1, "price": "free"}),
            "price: must be a number",
        ),
        (
            json!({"title": "t", "pages": 1, "genre": "drama"}),
            "genre: not one of fiction, poetry, science",
        ),
        (
            json!({"title": "t", "pages": 1, "tags": ["a", "b", "c", "d", "e", "f"]}),
            "tags: more than 5 items (6)",
        ),
        (
            json!({"title": "t", "pages": 1, "tags": [tag(21)]}),
            "tags[0]: longer than 20 characters",
        ),
        (
            json!({"title": "t", "pages": 1, "tags": ["ok", 7]}),
            "tags[1]: must be a string",
        ),
        (
            json!({"title": "t", "pages": 1, "colour": "red"}),
            "colour: is not a field of this object",
        ),
        (json!(["t", 1]), "body: must be an object"),
        // Values whose Rust type checks everything the document says of them, apart from `null`
        // (read quickly, see the runtime's `parse_json`), get the same messages.
        (
            json!({"title": "t", "pages": 1, "subtitle": 5}),
            "subtitle: must be a string",
        ),
        (
            json!({"title": "t", "pages": 1, "subtitle": null}),
            "subtitle: must be a string",
        ),
        (
            json!({"title": "t", "pages": 1, "notes": [["x"]]}),
            "notes[0]: must be an object",
        ),
        (
            json!({"title": "t", "pages": 1, "notes": [{"stars": 1}]}),
            "notes[0].text: is required",
        ),
        (
            json!({"title": "t", "pages": 1, "notes": [{"text": "a", "stars": 1.5}]}),
            "notes[0].stars: must be an integer",
        ),
        (
            json!({"title": "t", "pages": 1, "notes": [{"text": "a", "stars": null}]}),
            "notes[0].stars: must be an integer",
        ),
    ];
    for (body, message) in cases {
        let answer = expect_error(http.post(&url).json(&body), 400, "SHELF-400", SHELF).await;
        assert_eq!(answer["message"], message, "for {body}");
    }
    expect_error(http.post(&url), 400, "SHELF-400B", SHELF).await;
    let answer = expect_error(
        http.post(&url)
            .header("content-type", "text/plain")
            .body(r#"{"title": "t", "pages": 1}"#),
        400,
        "SHELF-400",
        SHELF,
    )
    .await;
    assert_eq!(
        answer["message"],
        "Content-Type: must be application/json, not text/plain"
    );
    assert!(
        shelf.state().added.is_empty(),
        "no refusal reached the handler"
    );

    // What the document allows gets through: the bounds, and a null price (nullable).
    let accepted = [
        json!({"title": "null price", "pages": 1, "price": null}),
        json!({"title": "cheap", "pages": 10000, "price": 0.01}),
        json!({"title": "x".repeat(100), "pages": 1, "tags": [tag(20), tag(20), tag(20), tag(20), tag(20)]}),
        // `null` inside a string, and a key the open note object does not name.
        json!({"title": "null", "pages": 1, "subtitle": "null and void", "notes": [{"text": "x", "mood": 1}]}),
    ];
    for body in accepted {
        let response = http.post(&url).json(&body).send().await.expect("sending");
        assert_eq!(response.status(), 201, "for {body}");
        let book: serde_json::Value = response.json().await.expect("a JSON book");
        assert_eq!(book["title"], body["title"]);
    }
    let added = &shelf.state().added;
    assert_eq!(added.len(), 4);
    assert_eq!(added[0].price, None, "null arrives as no price");
    assert_eq!(added[1].price, Some(0.01));
    assert_eq!(added[2].tags.len(), 5);
    assert_eq!(added[3].subtitle.as_deref(), Some("null and void"));
    assert_eq!(added[3].notes[0].text, "x");
}

/// The body is checked while the document's type is deserialized from it (one pass): values the
/// type's own deserializer would refuse first still get the document's message, and keys with
/// escapes are read like any other.
#[tokio::test]
async fn add_book_checks_the_body_while_reading_it() {
    let (base, _, shelf) = start().await;
    let http = http_client(Some(("x-api-key", KEY)));
    let url = format!("{base}/shelves/novels/books");
    let post = |body: &'static str| {
        http.post(&url)
            .header("content-type", "application/json")
            .body(body)
    };
    for (body, message) in [
        (
            r#"{"title": "t", "pages": 1, "genre": 7}"#,
            "genre: must be a string",
        ),
        (r#"{"title": null, "pages": 1}"#, "title: must be a string"),
        (
            r#"{"title": "t", "pages": "1"}"#,
            "pages: must be an integer",
        ),
        (
            r#"{"title": "t", "pages": 1, "tags": {}}"#,
            "tags: must be an array",
        ),
    ] {
        let answer = expect_error(post(body), 400, "SHELF-400", SHELF).await;
        assert_eq!(answer["message"], message, "for {body}");
    }
    for body in [r#"{"title": "t", "pages": 1} trailing"#, r#"{"title": "t""#] {
        let answer = expect_error(post(body), 400, "SHELF-400", SHELF).await;
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("body: malformed JSON: "),
            "for {body}: {message}"
        );
    }
    assert!(
        shelf.state().added.is_empty(),
        "no refusal reached the handler"
    );

    let response = post(r#"{"ti\u0074le": "escaped", "pages": 2}"#)
        .send()
        .await
        .expect("sending");
    assert_eq!(response.status(), 201);
    assert_eq!(shelf.state().added[0].title.as_str(), "escaped");
}

#[tokio::test]
async fn a_duplicate_title_is_the_handlers_typed_409() {
    let (_, client, _) = start().await;
    let novels = shelf_id("novels");
    client
        .add_book(&novels, &new_book("Dune", None))
        .await
        .expect("first copy");
    let (status, problem) = typed_error(client.add_book(&novels, &new_book("Dune", None)).await);
    assert_eq!(status, 409);
    assert_eq!(problem.code.as_str(), "SHELF-409");
    assert_eq!(
        problem.message.as_str(),
        "this title is already on the shelf"
    );
    // Another shelf is another namespace.
    client
        .add_book(&shelf_id("classics"), &new_book("Dune", None))
        .await
        .expect("same title elsewhere");
}

#[tokio::test]
async fn a_json_body_over_2_mib_is_refused_with_413() {
    let (base, _, shelf) = start().await;
    let http = http_client(Some(("x-api-key", KEY)));
    let url = format!("{base}/shelves/novels/books");
    let huge = json!({"title": "x".repeat(2 * 1024 * 1024), "pages": 1});

    // Declared too large (Content-Length): refused before reading.
    let answer = expect_error(http.post(&url).json(&huge), 413, "SHELF-413", SHELF).await;
    assert_eq!(
        answer["message"],
        "the request body is larger than 2097152 bytes"
    );
    // Unknown length (chunked): refused once 2 MiB have been read.
    let bytes = bytes::Bytes::from(serde_json::to_vec(&huge).expect("serializing"));
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..bytes.len())
        .step_by(256 * 1024)
        .map(|start| Ok(bytes.slice(start..(start + 256 * 1024).min(bytes.len()))))
        .collect();
    expect_error(
        http.post(&url)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            ))),
        413,
        "SHELF-413",
        SHELF,
    )
    .await;
    assert!(shelf.state().added.is_empty());
}

#[tokio::test]
async fn upload_cover_streams_the_caption_and_exact_bytes_and_get_cover_returns_them() {
    let (_, client, shelf) = start().await;
    let novels = shelf_id("novels");
    let book = client
        .add_book(&novels, &new_book("Dune", None))
        .await
        .expect("adding")
        .into_inner();

    let (status, problem) = typed_error(client.get_cover(&novels, book.id).await);
    assert_eq!((status, problem.code.as_str()), (404, "SHELF-404"));

    // From a stream of chunks, with a known length.
    let image: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = image
        .chunks(64 * 1024)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let file = UploadFile::from_stream(
        "dune.png",
        futures_util::stream::iter(chunks),
        Some(image.len() as u64),
    );
    let stored = client
        .upload_cover(&novels, book.id, Some("The first edition"), file)
        .await
        .expect("uploading");
    assert_eq!(stored.status(), 204);
    assert_eq!(
        shelf.state().covers[&("novels".to_string(), book.id)],
        Cover {
            caption: Some("The first edition".into()),
            file_name: Some("dune.png".into()),
            bytes: image.clone(),
        }
    );

    let download = client
        .get_cover(&novels, book.id)
        .await
        .expect("downloading");
    assert_eq!(
        download.headers()["content-type"],
        "application/octet-stream"
    );
    let mut downloaded = Vec::new();
    let mut stream = download.into_inner();
    while let Some(chunk) = stream.next().await {
        downloaded.extend_from_slice(&chunk.expect("a chunk"));
    }
    assert_eq!(downloaded, image);

    // From a reader, of unknown length (chunked), without a caption; a caption of exactly the
    // documented 40 characters is allowed.
    let replacement = b"\x89PNG not really".to_vec();
    let file =
        UploadFile::from_reader("cover.png", std::io::Cursor::new(replacement.clone()), None);
    client
        .upload_cover(&novels, book.id, None, file)
        .await
        .expect("replacing");
    let cover = shelf.state().covers[&("novels".to_string(), book.id)].clone();
    assert_eq!((cover.caption, cover.bytes), (None, replacement));
    let caption = "c".repeat(40);
    let file = UploadFile::from_reader("c.png", std::io::Cursor::new(vec![1, 2, 3]), Some(3));
    client
        .upload_cover(&novels, book.id, Some(&caption), file)
        .await
        .expect("a 40-character caption");
}

#[tokio::test]
async fn upload_cover_refuses_a_long_caption_and_a_missing_image() {
    let (base, client, shelf) = start().await;
    let novels = shelf_id("novels");
    let book = client
        .add_book(&novels, &new_book("Dune", None))
        .await
        .expect("adding")
        .into_inner();

    let caption = "c".repeat(41);
    let file = UploadFile::from_reader("c.png", std::io::Cursor::new(vec![1, 2, 3]), Some(3));
    let (status, problem) = typed_error(
        client
            .upload_cover(&novels, book.id, Some(&caption), file)
            .await,
    );
    assert_eq!((status, problem.code.as_str()), (400, "SHELF-400"));
    assert_eq!(
        problem.message.as_str(),
        "caption: longer than 40 characters"
    );

    let http = http_client(Some(("x-api-key", KEY)));
    let url = format!("{base}/shelves/novels/books/{}/cover", book.id);
    let only_caption = reqwest::multipart::Form::new().text("caption", "no image");
    let answer = expect_error(
        http.put(&url).multipart(only_caption),
        400,
        "SHELF-400B",
        SHELF,
    )
    .await;
    assert_eq!(answer["message"], "the file part image is required");
    expect_error(http.put(&url), 400, "SHELF-400B", SHELF).await;
    assert!(shelf.state().covers.is_empty(), "nothing was stored");
}

/// The fixture's own `x-file-name` rule (another pattern, another code): the generator reads it
/// from the document, nothing is specific to roma.
#[tokio::test]
async fn a_cover_file_name_outside_the_documents_rule_is_refused() {
    let (base, client, shelf) = start().await;
    let novels = shelf_id("novels");
    let book = client
        .add_book(&novels, &new_book("Emma", None))
        .await
        .expect("adding")
        .into_inner();
    let http = http_client(Some(("x-api-key", KEY)));
    for bad in ["Cover.PNG", "cover.gif", "my cover.png"] {
        let form = reqwest::multipart::Form::new().part(
            "image",
            reqwest::multipart::Part::bytes(vec![7u8; 16]).file_name(bad.to_string()),
        );
        let answer = expect_error(
            http.put(format!("{base}/shelves/novels/books/{}/cover", book.id))
                .multipart(form),
            400,
            "SHELF-400",
            SHELF,
        )
        .await;
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("a lower-case .png or .jpg name"),
            "{bad}: {message}"
        );
    }
    assert!(
        shelf.state().covers.is_empty(),
        "no refusal reached the handler"
    );
}

#[tokio::test]
async fn an_upload_over_the_documented_1_mib_is_refused_with_413() {
    let (base, client, shelf) = start().await;
    let novels = shelf_id("novels");
    let book = client
        .add_book(&novels, &new_book("Dune", None))
        .await
        .expect("adding")
        .into_inner();
    let two_mib = 2 * 1024 * 1024;

    // Declared too large: refused by the generated layer before the handler.
    let file = UploadFile::from_reader(
        "big.png",
        std::io::Cursor::new(vec![7u8; two_mib]),
        Some(two_mib as u64),
    );
    let (status, problem) = typed_error(client.upload_cover(&novels, book.id, None, file).await);
    assert_eq!((status, problem.code.as_str()), (413, "SHELF-413"));
    assert_eq!(
        problem.message.as_str(),
        "the request body is larger than 1048576 bytes"
    );

    // Unknown length: the handler's stream of the image fails past the limit, and the handler
    // answers with that error.
    let http = http_client(Some(("x-api-key", KEY)));
    let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; 256 * 1024])));
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .file_name("big.png"),
    );
    expect_error(
        http.put(format!("{base}/shelves/novels/books/{}/cover", book.id))
            .multipart(form),
        413,
        "SHELF-413",
        SHELF,
    )
    .await;
    assert!(shelf.state().covers.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn requests_without_a_valid_key_are_refused_before_the_handler() {
    let (base, _, shelf) = start().await;
    let url = format!("{base}/shelves/novels/books");
    let bare = http_client(None);

    let answer = expect_error(bare.get(&url), 401, "SHELF-401", SHELF).await;
    assert_eq!(
        answer["message"],
        "the x-api-key header is missing or empty"
    );
    expect_error(
        bare.get(&url).header("X-Api-Key", ""),
        401,
        "SHELF-401",
        SHELF,
    )
    .await;
    expect_error(
        bare.post(&url).json(&json!({"title": "t", "pages": 1})),
        401,
        "SHELF-401",
        SHELF,
    )
    .await;
    let answer = expect_error(
        bare.get(&url).header("X-Api-Key", "k".repeat(65)),
        400,
        "SHELF-400",
        SHELF,
    )
    .await;
    assert_eq!(answer["message"], "x-api-key: longer than 64 characters");
    assert!(shelf.state().listed.is_empty());

    // The longest key the document allows reaches the handler, which does not know it.
    let answer = expect_error(
        bare.get(&url).header("X-Api-Key", "k".repeat(64)),
        401,
        "SHELF-401",
        SHELF,
    )
    .await;
    assert_eq!(answer["message"], "unknown key");
    assert_eq!(shelf.state().listed.len(), 1);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_the_documents_error_body() {
    let (base, _, _) = start().await;
    let http = http_client(Some(("x-api-key", KEY)));
    for path in [
        "/shelves",
        "/shelves/novels",
        "/shelves/novels/books/1",
        "/books",
    ] {
        expect_error(http.get(format!("{base}{path}")), 404, "SHELF-404R", SHELF).await;
    }
    expect_error(
        http.delete(format!("{base}/shelves/novels/books")),
        405,
        "SHELF-405",
        SHELF,
    )
    .await;
    expect_error(
        http.post(format!("{base}/shelves/novels/books/1/cover")),
        405,
        "SHELF-405",
        SHELF,
    )
    .await;
}

#[tokio::test]
async fn a_signed_add_book_is_verified_by_the_generated_layer_with_the_documents_skew() {
    let (base, _, shelf) = start().await;
    let key = roma_assets_runtime::sign::SigningKey::new(ACCESS_KEY, SECRET_KEY).unwrap();
    let signed = Client::new_with_client(
        &base,
        reqwest::Client::new(),
        roma_assets_runtime::sign::Signer::new(key.clone()),
    );
    let added = signed
        .add_book(&"shelf-1".parse().unwrap(), &new_book("Signed", None))
        .await
        .expect("a signed request");
    assert_eq!(added.status(), 201);
    assert_eq!(shelf.state().added.len(), 1);

    // The fixture allows 60 s of clock skew (its x-max-clock-skew-seconds), not the default 900.
    let url = format!("{base}/shelves/shelf-1/books");
    let mut stale = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"title":"Late","pages":3}"#)
        .build()
        .unwrap();
    let host = stale.url().authority().to_string();
    stale.headers_mut().insert("host", host.parse().unwrap());
    roma_assets_runtime::sign::sign(
        stale.headers_mut(),
        "POST",
        "/shelves/shelf-1/books",
        None,
        roma_assets_runtime::sign::Payload::Bytes(br#"{"title":"Late","pages":3}"#),
        &key,
        chrono::Utc::now() - chrono::TimeDelta::seconds(120),
    )
    .unwrap();
    let response = reqwest::Client::new().execute(stale).await.unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "SHELF-401S");
    assert!(
        body["message"].as_str().unwrap().contains("at most 60 s"),
        "{body}"
    );
    assert_eq!(
        shelf.state().added.len(),
        1,
        "the stale request never reached the handler"
    );
}
