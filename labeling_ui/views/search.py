"""Search: captions by text, and the nearest neighbours of a sample by image embedding."""
import streamlit as st

from labeling_ui import queues, state

SHOWN = 12
COLUMNS = 4
REVIEW_PAGE = "views/review_queue.py"


def _open_queue(kind: str, text: str) -> None:
    state.preset(q_kind=kind, q_text=text)
    st.switch_page(REVIEW_PAGE)


def _similar_of(sample_id: str) -> None:
    st.session_state.similar_id = sample_id


def _grid(rows: list[dict], score: str | None = None) -> None:
    for start in range(0, len(rows), COLUMNS):
        for col, row in zip(st.columns(COLUMNS), rows[start:start + COLUMNS]):
            with col.container(border=True):
                media = state.media_bytes(row)
                if media is not None and row["media_type"] == "image":
                    st.image(media, width="stretch")
                st.markdown(row["caption"] or "*(no caption)*")
                st.caption(f"`{row['sample_id'][:12]}`" + (f" · similarity {row[score]:.3f}" if score else ""))
                st.button("Similar", key=f"sim_{score}_{row['sample_id']}", on_click=_similar_of,
                          args=(row["sample_id"],))


_DISPLAY = "s.sample_id, s.caption, s.media_type, s.media_path, s.media_offset, s.media_size"


def main() -> None:
    s = state.session()
    st.title("Search")
    text = st.text_input("caption contains", key="search_text").strip()
    if text:
        n = s.catalog.query("SELECT count(*) AS n FROM samples WHERE status = 'success' "
                            "AND contains(lower(caption), lower(?))", [text]).column("n")[0].as_py()
        rows = s.catalog.query(f"SELECT {_DISPLAY} FROM samples s WHERE status = 'success' "
                               f"AND contains(lower(caption), lower(?)) ORDER BY sample_id LIMIT {SHOWN}",
                               [text]).to_pylist()
        st.write(f"{n:,} samples; the first {len(rows)}:")
        if n and st.button("Review these in the queue", key="open_search"):
            _open_queue("search", text)
        _grid(rows)

    st.subheader("Nearest neighbours by CLIP image embedding")
    sample_id = st.text_input("sample_id", key="similar_id").strip()
    if sample_id:
        rows = s.catalog.query(
            f"SELECT {_DISPLAY}, n.similarity FROM ({queues.similar_sql()}) n JOIN samples s USING (sample_id) "
            "ORDER BY n.similarity DESC, s.sample_id", [sample_id, SHOWN]).to_pylist()
        if not rows:
            st.warning(f"No embedding for sample {sample_id} (or no other samples have one).")
            return
        if st.button("Review the neighbours in the queue", key="open_similar"):
            _open_queue("similar", sample_id)
        _grid(rows, "similarity")


main()
