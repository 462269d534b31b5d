# Inkwell in a container: Debian (bookworm) with Node 20, built from package-lock.json. Nothing is fetched beyond
# the Debian and npm registries: better-sqlite3 is compiled here instead of downloading a prebuilt binary, and
# package.json's allowScripts keeps onnxruntime-node's installer (which would download CUDA) from running.
# See docs/deployment.md.

FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# allowScripts is enforced from npm 11.19.1 on; .npmrc's engine-strict refuses an older npm.
RUN npm install -g npm@11.19.1
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# prebuild-install would fetch better-sqlite3's binary from GitHub; compile it instead (only this package).
ENV npm_config_build_from_source=better-sqlite3
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
COPY models ./models
COPY public ./public
COPY views ./views
# tsc, then the precompressed assets (dist/assets); then the dev dependencies go.
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data \
    UPLOAD_DIR=/uploads
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
COPY --from=build /app/models ./models
COPY --from=build /app/public ./public
COPY --from=build /app/views ./views
RUN mkdir -p /data /uploads && chown node:node /data /uploads
USER node
VOLUME ["/data", "/uploads"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD node -e "fetch('http://127.0.0.1:3000/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# node directly (not npm start): SIGTERM reaches the server, which finishes in-flight requests and stops.
CMD ["node", "dist/src/server.js"]
