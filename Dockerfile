# DDMS production image: one process serving the UI, REST/SSE API and the Modbus collector.
# Build: docker build -t ddms .   Run: see docker-compose.yml (PostgreSQL) or
#   docker run -p 8000:8000 -v ddms-data:/data -e JWT_SECRET_KEY=... ddms   (embedded SQLite)
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ddms ddms
COPY pages pages
COPY collector collector
COPY migrations migrations
COPY locales locales
RUN pip install --no-cache-dir --upgrade pip build \
 && python -m build --wheel --outdir /wheels \
 && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/ddms-*.whl

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DDMS_DATA_DIR=/data HOST=0.0.0.0 PORT=8000 DDMS_ENV=production
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 ddms \
 && mkdir -p /data && chown ddms /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY --chown=ddms locales /app/locales
WORKDIR /app
USER ddms
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s \
  CMD python -c "import os,urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:%s/api/health' % os.environ.get('PORT', '8000'), timeout=4).status != 200)"
# Exec form: ddms is PID 1 and gets docker stop's SIGTERM itself (bounded by SHUTDOWN_TIMEOUT).
STOPSIGNAL SIGTERM
CMD ["ddms", "serve"]
